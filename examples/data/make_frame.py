"""Write examples/data/frame.bin: one Ethernet/IPv4/TCP frame (to port 80) for
`ebpflite prog run --data-in`. Run: python examples/data/make_frame.py"""

from pathlib import Path

from ebpflite.packets import TCP, Ether, IPv4

FRAME = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe") / IPv4(src="10.0.0.1", dst="192.0.2.10") \
    / TCP(sport=40000, dport=80, flags="S")

if __name__ == "__main__":
    out = Path(__file__).with_name("frame.bin")
    out.write_bytes(bytes(FRAME))
    print(f"wrote {out} ({len(bytes(FRAME))} bytes)")
