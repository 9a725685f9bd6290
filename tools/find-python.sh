#!/bin/sh
# Print the path of a Python >= 3.12 interpreter, or explain on stderr what was tried.
# Names on PATH first, then the interpreters under pyenv's versions folder (newest first).
tried=""
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for name in python3.15 python3.14 python3.13 python3.12 python3 python; do
    path=$(command -v "$name" 2>/dev/null) || { tried="$tried $name(not on PATH)"; continue; }
    if ok "$path"; then echo "$path"; exit 0; fi
    tried="$tried $path(too old or not runnable)"
done
root="${PYENV_ROOT:-$HOME/.pyenv}"
for dir in $(ls -d "$root"/versions/3.* 2>/dev/null | sort -V -r); do
    path="$dir/bin/python3"
    [ -x "$path" ] || continue
    if ok "$path"; then echo "$path"; exit 0; fi
    tried="$tried $path(too old)"
done
echo "bayesgen needs Python >= 3.12 and none was found. Tried:$tried; and $root/versions/*/bin/python3. Install Python 3.12 or newer, or put it on PATH." >&2
exit 1
