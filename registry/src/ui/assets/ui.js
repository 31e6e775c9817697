// Progressive enhancement only: copy buttons. Every page works without this file.
document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.getAttribute('data-copy') ?? '').then(() => {
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 1500);
  }, () => { button.textContent = 'Copy failed'; });
});
// the buttons are hidden until this script runs, so a page without scripts shows no button that does nothing
for (const button of document.querySelectorAll('button[data-copy][hidden]')) button.hidden = false;
