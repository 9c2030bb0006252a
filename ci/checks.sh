#!/bin/sh
# ci/checks.sh imports|types: run lint-imports or mypy on the installed layout of the package.
#
# The folders engine/, store/, tui/ and presets/ install as langprune.engine, ... (package-dir in
# pyproject.toml). The editable install provides that mapping through an import hook, which
# neither import-linter nor mypy follows, so both run on a tree of symlinks with the installed
# layout, built under build/layout (ignored by git). mypy reports paths inside that tree:
# build/layout/langprune/engine/x.py is engine/x.py, langprune/store/x.py is store/x.py, ...
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
tree="$root/build/layout"
rm -rf "$tree"
mkdir -p "$tree/langprune"
for entry in "$root"/langprune/*; do
    case "$entry" in *__pycache__) continue ;; esac
    ln -s "$entry" "$tree/langprune/"
done
for folder in engine store tui presets; do
    ln -s "$root/$folder" "$tree/langprune/$folder"
done
cd "$tree"  # both tools put the working directory first on the import path
case "${1:-}" in
    imports) exec "$venv/bin/lint-imports" --no-cache "$root/pyproject.toml" ;;
    types) exec "$venv/bin/mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p langprune ;;
    *) echo "usage: ci/checks.sh imports|types" >&2; exit 2 ;;
esac
