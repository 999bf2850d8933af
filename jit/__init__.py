"""ebpflite.jit: eBPF lowered to LLVM IR with llvmlite, run as native code."""
