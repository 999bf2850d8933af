"""ebpflite.vm: the instruction set, decoding, assembly, and the reference interpreter."""
