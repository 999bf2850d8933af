"""ebpflite.loader: ELF objects, BTF, relocations, map specifications, `ebpflite cc`."""
