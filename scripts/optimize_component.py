#!/usr/bin/env python3
"""Shrinks the WebAssembly component with binaryen's `wasm-opt -Oz`, which rustc does not run.

    optimize_component.py IN.wasm OUT.wasm WASM-OPT [ARG ...]

binaryen reads core modules, not components, so this takes the component apart at its top
level (the component binary format: a preamble, then sections of an id byte, a LEB128 size and
the contents), hands each core module section of over 64 KiB (the program; the two small
shims wasm-component-ld adds are left as they are) to `wasm-opt`, and puts the optimised module
back in the same place. `wasm-opt` keeps a module's imports and exports, so the component's
types, instances and canonical functions around it stay valid; the tests load the result in
wasmtime, which validates the whole component, and run a sync through it.

Standard library only: it runs before any virtualenv exists.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

COMPONENT_PREAMBLE = b"\x00asm\x0d\x00\x01\x00"
CORE_MODULE_SECTION = 1
SMALLEST_OPTIMISED = 64 * 1024

# What rustc enables for wasm32-wasip2 (LLVM's generic CPU); binaryen validates against it.
FEATURES = [
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-call-indirect-overlong",
    "--enable-multivalue",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-sign-ext",
]


def read_leb(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def write_leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def optimise_module(module: bytes, wasm_opt: list[str], scratch: Path) -> bytes:
    source, result = scratch / "in.wasm", scratch / "out.wasm"
    source.write_bytes(module)
    subprocess.run([*wasm_opt, "-Oz", *FEATURES, str(source), "-o", str(result)], check=True)
    return result.read_bytes()


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    source, target, wasm_opt = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    data = source.read_bytes()
    if not data.startswith(COMPONENT_PREAMBLE):
        print(f"{source} is not a WebAssembly component (its first bytes are not a component's preamble)", file=sys.stderr)
        return 1
    out, at, optimised = bytearray(COMPONENT_PREAMBLE), len(COMPONENT_PREAMBLE), 0
    with tempfile.TemporaryDirectory() as scratch:
        while at < len(data):
            section_id = data[at]
            size, start = read_leb(data, at + 1)
            contents = data[start : start + size]
            if len(contents) != size:
                print(f"{source} is cut short: a section of {size} bytes at offset {at} runs past the end", file=sys.stderr)
                return 1
            if section_id == CORE_MODULE_SECTION and size >= SMALLEST_OPTIMISED:
                contents = optimise_module(contents, wasm_opt, Path(scratch))
                optimised += 1
            out += bytes([section_id]) + write_leb(len(contents)) + contents
            at = start + size
    if optimised == 0:
        print(f"{source} has no core module of {SMALLEST_OPTIMISED} bytes or more: nothing to optimise", file=sys.stderr)
        return 1
    target.write_bytes(out)
    print(f"wasm-opt -Oz: {len(data):,} bytes before, {len(out):,} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
