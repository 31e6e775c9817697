# Sourced by test/run.sh: puts the tools from test/tools/install.sh on the PATH.
export PATH="${REGOP_CACHE:-$HOME/.cache/regop}/tools/bin:/usr/local/go/bin:$PATH"
