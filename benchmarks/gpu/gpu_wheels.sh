#!/usr/bin/env bash
# Wheels for benchmarks/gpu/gpu_workflow.sh on the lent GPU machine (no internet there): the
# packages of benchmarks/gpu/gpu_wheels.txt for its Python 3.12 (x86-64 manylinux), downloaded
# here and split into parts of at most 56 MiB (.whl/part1, part2, ...), because one call to
# that machine carries at most 64 MiB with the working tree. About 140 MB in 3 parts.
#
#   bash benchmarks/gpu/gpu_wheels.sh    # from the repository root, with pip and internet
#
# `.whl/` is ignored by git (.gitignore), so it travels only where a call names a part of
# it in `carry`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
LIMIT=$((56 * 1024 * 1024))
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
platforms=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${p}_x86_64")
done
binary=$(mktemp)
sdist=$(mktemp)
# pure-Python projects published as source only: built into wheels here
grep -E '^connection_pool==' benchmarks/gpu/gpu_wheels.txt >"$sdist"
grep -vE '^(#|connection_pool==)' benchmarks/gpu/gpu_wheels.txt >"$binary"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$download" -r "$binary"
"$PY" -m pip wheel --quiet --no-deps -w "$download" -r "$sdist"
rm -f "$binary" "$sdist"
rm -rf .whl/part*
# first fit, largest wheels first
part_sizes=()
while read -r size file; do
    placed=""
    for i in "${!part_sizes[@]}"; do
        if (( part_sizes[i] + size <= LIMIT )); then placed=$i; break; fi
    done
    if [ -z "$placed" ]; then placed=${#part_sizes[@]}; part_sizes+=(0); fi
    part_sizes[placed]=$(( part_sizes[placed] + size ))
    mkdir -p ".whl/part$((placed + 1))"
    mv "$download/$file" ".whl/part$((placed + 1))/"
done < <(cd "$download" && stat -c '%s %n' -- *.whl | sort -rn)
for i in "${!part_sizes[@]}"; do
    echo ".whl/part$((i + 1)): $(ls ".whl/part$((i + 1))" | wc -l) wheels, $(( part_sizes[i] / 1024 / 1024 )) MiB"
done
