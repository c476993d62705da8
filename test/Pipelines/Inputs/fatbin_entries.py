"""Lists the CUDA fatbins embedded in a file (an object file, or a fatbin).

For each fatbin: one line per entry, `elf sm_XX` or `ptx sm_XX` (the
architecture the fatbin's entry header names); an ELF entry (a cubin) also
gets the architecture its own ELF header's e_flags name, read
independently, as `elf sm_XX (e_flags sm_YY)`. Exits 1 when the file holds
no fatbin.
"""

import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KINDS = {1: "ptx", 2: "elf"}


def elf_arch(image):
    """The sm number a CUDA ELF's e_flags name, or None if not an ELF."""
    if len(image) < 0x34 or image[:4] != b"\x7fELF":
        return None
    abi_version = image[8]
    (e_flags,) = struct.unpack_from("<I", image, 0x30)
    # The CUDA ELF ABI version 8 (CUDA 12.8+) moved the architecture from
    # the low byte of e_flags to the next one.
    return (e_flags >> 8) & 0xFF if abi_version >= 8 else e_flags & 0xFF


def entries(data, start):
    magic, _version, header_size, fat_size = struct.unpack_from("<IHHQ", data, start)
    assert magic == FATBIN_MAGIC
    offset = start + header_size
    end = offset + fat_size
    while offset < end:
        kind, _ver, entry_header, payload = struct.unpack_from("<HHIQ", data, offset)
        (sm,) = struct.unpack_from("<I", data, offset + 28)
        body = data[offset + entry_header: offset + entry_header + payload]
        yield KINDS.get(kind, "kind%d" % kind), sm, body
        offset += entry_header + payload


def main():
    data = open(sys.argv[1], "rb").read()
    found = 0
    pos = data.find(struct.pack("<I", FATBIN_MAGIC))
    while pos >= 0:
        found += 1
        print("fatbin")
        for kind, sm, body in entries(data, pos):
            line = "%s sm_%d" % (kind, sm)
            arch = elf_arch(body) if kind == "elf" else None
            if arch is not None:
                line += " (e_flags sm_%d)" % arch
            print(line)
        pos = data.find(struct.pack("<I", FATBIN_MAGIC), pos + 4)
    if not found:
        print("no fatbin")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
