"""`rlattn data get` against a local HTTP server on 127.0.0.1 that the test starts: one sequence, a
two-target sequence, a corrupt archive, a connection dropped mid-file (resumed), a VOT stack with
checksums, and no server at all."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from rlattn.cli import main
from rlattn.datasets import load_otb_sequence, load_vot_sequence, make_synthetic_sequence
from rlattn.datasets.download import fetch
from rlattn.errors import RlattnError
from rlattn.experiments import resolve_sequences


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image[:, :, ::-1])[1].tobytes()


def otb_zip(name: str, frames: int = 6, targets: int = 1, top: bool = True, seed: int = 0) -> bytes:
    """An archive as the OTB site serves them: ``<Name>/img/0001.jpg`` and the ground truth."""
    seq = make_synthetic_sequence(frames, seed=seed)
    prefix = f"{name}/" if top else ""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(frames):
            zf.writestr(f"{prefix}img/{i + 1:04d}.jpg", _jpeg(seq.image(i)))
        gt = "\n".join(",".join(f"{v:g}" for v in b) for b in seq.boxes) + "\n"
        if targets == 1:
            zf.writestr(f"{prefix}groundtruth_rect.txt", gt)
        for t in range(1, targets + 1) if targets > 1 else ():
            zf.writestr(f"{prefix}groundtruth_rect.{t}.txt", gt)
    return buf.getvalue()


class Server:
    """Files by path, HTTP ranges, and paths whose first answer breaks off half-way."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_once: set[str] = set()
        self.ranges: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                if rng := self.headers.get("Range"):
                    server.ranges.append((self.path, rng))
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if self.path in server.drop_once:
                    server.drop_once.discard(self.path)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-file
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def _get(server, root, what, capsys, *extra):
    code = main(["data", "get", what, "--root", str(root), "--otb-url", server.url + "/seq/{name}.zip",
                 "--no-progress", *extra])  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


def test_one_sequence_is_fetched_and_loads(server, tmp_path, capsys):
    server.files["/seq/Alpha.zip"] = otb_zip("Alpha")
    code, out, err = _get(server, tmp_path, "Alpha", capsys)
    assert code == 0, err
    assert "1 sequences" in out and "1 downloaded now" in out
    seq = load_otb_sequence(tmp_path / "otb" / "Alpha")
    assert len(seq) == 6 and seq.boxes.shape == (6, 4)
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob(".*unpacking*"))
    code, out, _ = _get(server, tmp_path, "Alpha", capsys)  # already there: nothing fetched
    assert code == 0 and "0 downloaded now" in out


def test_a_two_target_sequence_is_one_folder(server, tmp_path, capsys):
    server.files["/seq/Twin.zip"] = otb_zip("Twin", targets=2, top=False)  # some archives have no top folder
    code, _, err = _get(server, tmp_path, "Twin-1,Twin-2", capsys)
    assert code == 0, err
    refs, missing = resolve_sequences(tmp_path, "otb2015", ["Twin-1", "Twin-2"])
    assert not missing and [r.target for r in refs] == [1, 2]
    assert len(refs[1].load()) == 6


def test_a_corrupt_archive_leaves_nothing_that_looks_like_data(server, tmp_path, capsys):
    good = otb_zip("Bad")
    server.files["/seq/Bad.zip"] = good[:100] + bytes(len(good) - 100)
    code, _, err = _get(server, tmp_path, "Bad", capsys)
    assert code == 2 and "Bad.zip" in err and "Traceback" not in err
    assert not (tmp_path / "otb" / "Bad").exists()
    assert not list(tmp_path.rglob("Bad.zip*")) and not list(tmp_path.rglob(".*unpacking*"))
    server.files["/seq/Bad.zip"] = good  # fixed at the source: the same command now works
    assert _get(server, tmp_path, "Bad", capsys)[0] == 0
    assert len(load_otb_sequence(tmp_path / "otb" / "Bad")) == 6


def test_a_dropped_connection_is_resumed(server, tmp_path, capsys):
    body = otb_zip("Gamma", frames=30)
    server.files["/seq/Gamma.zip"] = body
    server.drop_once.add("/seq/Gamma.zip")
    code, _, err = _get(server, tmp_path, "Gamma", capsys)
    assert code == 0, err
    assert server.ranges and server.ranges[0][1] == f"bytes={len(body) // 2}-"  # asked for the rest only
    assert len(load_otb_sequence(tmp_path / "otb" / "Gamma")) == 30


def test_a_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    body = bytes(range(256)) * 400
    server.files["/f.bin"] = body
    (tmp_path / "f.bin.part").write_bytes(body[:1000])
    digest = hashlib.sha256(body).hexdigest()
    assert fetch(server.url + "/f.bin", tmp_path / "f.bin", checksum=digest, progress=False).read_bytes() == body
    assert server.ranges == [("/f.bin", "bytes=1000-")]
    with pytest.raises(RlattnError, match="does not match"):
        fetch(server.url + "/f.bin", tmp_path / "g.bin", checksum="0" * 64, progress=False)
    assert not (tmp_path / "g.bin").exists() and not (tmp_path / "g.bin.part").exists()


def test_no_server_is_one_line(tmp_path, capsys):
    code = main(["data", "get", "Alpha", "--root", str(tmp_path), "--otb-url", "http://127.0.0.1:9/{name}.zip"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach 127.0.0.1:9" in err and len(err.strip().splitlines()) == 1


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_vot_stack_with_checksums(server, tmp_path, capsys):
    seq = make_synthetic_sequence(5, seed=3)
    polys = "\n".join(",".join(f"{v:g}" for v in (x, y, x + w, y, x + w, y + h, x, y + h)) for x, y, w, h in seq.boxes)
    anno = _zip({"groundtruth.txt": polys.encode() + b"\n"})
    color = _zip({f"{i + 1:08d}.jpg": _jpeg(seq.image(i)) for i in range(5)})
    server.files["/vot/ball/anno.zip"] = anno
    server.files["/vot/ball/color.zip"] = color
    stack = {"sequences": [{"name": "ball",
                            "annotations": {"url": "ball/anno.zip", "checksum": hashlib.md5(anno).hexdigest()},
                            "channels": {"color": {"url": "ball/color.zip",
                                                   "checksum": hashlib.sha1(color).hexdigest()}}}]}  # fmt: skip
    server.files["/vot/description.json"] = json.dumps(stack).encode()
    argv = ["data", "get", "vot2016", "--root", str(tmp_path), "--vot-url", server.url + "/vot/description.json"]
    assert main([*argv, "--no-progress"]) == 0
    loaded = load_vot_sequence(tmp_path / "vot" / "ball")
    assert len(loaded) == 5
    # a checksum that does not match: the sequence is not installed
    stack["sequences"][0]["name"] = "ball2"
    stack["sequences"][0]["annotations"]["checksum"] = "f" * 32
    server.files["/vot/description.json"] = json.dumps(stack).encode()
    (tmp_path / "downloads" / "vot2016" / "description.json").unlink()
    assert main([*argv, "--no-progress"]) == 2
    assert "does not match" in capsys.readouterr().err
    assert not (tmp_path / "vot" / "ball2").exists()
