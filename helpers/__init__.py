"""ebpflite.helpers: maps, helper functions and program contexts shared by both engines."""
