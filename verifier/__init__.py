"""ebpflite.verifier: static proof of memory safety and termination, and the xlated program."""
