"""A hostile qcow2 image whose data entries name the image's own metadata: petrel serves the
guest and never lets such a cluster go (which would punch a hole in the header or a table and
hand the cluster out again). Driven by tests/tools/diskio, qemu-img as the oracle."""
import struct
import zlib

from test_qcow2 import diskio, qimg, qio
import test_qcow2

pytestmark = test_qcow2.pytestmark  # skipped without qemu-img


def compressed_into_header(img):
    """Guest cluster 1 becomes a compressed cluster whose deflate stream lies in the header
    cluster (at 0x8000, past the header and its extensions); returns the stream's bytes."""
    qimg("create", "-q", "-f", "qcow2", img, "4M")
    qio(img, "write -P 0x11 0 64k")  # an L2 table for the first clusters
    with open(img, "r+b") as f:
        h = f.read(104)
        l1_off = struct.unpack(">Q", h[40:48])[0]
        f.seek(l1_off)
        l2_off = struct.unpack(">Q", f.read(8))[0] & 0x00FFFFFFFFFFFE00
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = b"\x42" * 65536
        stream = c.compress(data) + c.flush()
        f.seek(0x8000)
        f.write(stream)
        sectors = (len(stream) + 511) // 512  # the extent is (sectors + 1) * 512 bytes
        x = 62 - (16 - 8)  # 64 KiB clusters: the sector count sits above bit x
        f.seek(l2_off + 8)
        f.write(struct.pack(">Q", (1 << 62) | (sectors << x) | 0x8000))
    return data


def test_data_named_in_the_header_cluster_is_never_let_go_of(tmp_path):
    img = tmp_path / "evil.qcow2"
    data = compressed_into_header(img)
    out = tmp_path / "c1.raw"
    # Read the cluster, overwrite part of it (copy-on-write: the compressed cluster's extent is
    # let go of at the flush), read it again.
    r = diskio(img, f"r 65536 65536 {out}\nw 66048 512 7\nf\nr 65536 512 {out}\n", expect_ok=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "image's own metadata" in r.stderr, r.stderr
    assert out.read_bytes() == data[:512]  # what the guest had there before its write
    with open(img, "rb") as f:
        assert f.read(4) == b"QFI\xfb"  # the header is still there
    assert '"format": "qcow2"' in qimg("info", "--output=json", img).stdout
