# Source this (test/run.sh does) to put the tools built by test/tools/install.sh, and Go, on the PATH.
export PATH="${REGOP_CACHE:-$HOME/.cache/regop}/tools/bin:/usr/local/go/bin:$PATH"
