"""Fetching the benchmarks from their official sources: OTB's per-sequence archives and VOT's
toolkit stack (``description.json`` with a zip per sequence's annotations and frames).

What a download must never do is leave something the runner would take for data. So every file
is fetched into ``<file>.part`` (resumed with an HTTP range request after a dropped connection,
checked against its size and, where the source gives one, its checksum) and renamed when complete;
every sequence is unpacked into a hidden folder beside its place, checked, and renamed into place in
one step. An interrupted ``rlattn data get`` leaves at most a ``.part`` file that the same command
resumes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlparse

from tqdm import tqdm

from rlattn.datasets.otb import ground_truth_files
from rlattn.datasets.otb_catalog import SETS, archives
from rlattn.errors import RlattnError

OTB_URL = "http://cvlab.hanyang.ac.kr/tracker_benchmark/seq/{name}.zip"
VOT_STACKS = {"vot2016": "http://data.votchallenge.net/vot2016/main/description.json"}
CHUNK = 1 << 16


@dataclass(frozen=True)
class Fetched:
    """One sequence's outcome: where it is, and whether this call downloaded it."""

    name: str
    folder: Path
    downloaded: bool


def _offline(url: str, reason: object) -> RlattnError:
    host = urlparse(url).netloc or url
    return RlattnError(
        f"cannot reach {host} ({reason}); 'rlattn data get' needs a connection to the benchmark's site "
        "(or copy the data by hand: README, 'Getting the data')"
    )


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def checksum_algorithm(checksum: str) -> str:
    """The hash a hex checksum is written in, told by its length (md5, sha1 or sha256)."""
    algorithm = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(checksum))
    if algorithm is None or any(c not in "0123456789abcdefABCDEF" for c in checksum):
        raise RlattnError(f"cannot check {checksum!r}: not an md5, sha1 or sha256 hex digest")
    return algorithm


def fetch(
    url: str,
    dest: Path,
    *,
    checksum: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """``url`` saved as ``dest``, complete or not at all (see the module doc). A file already at
    ``dest`` is taken as done: it only ever appears complete."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            total = _receive(request, part, have, timeout, progress, dest.name)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing after what we have: the file is complete
                total = have
            else:
                raise RlattnError(f"{url}: the server answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
            got = part.stat().st_size if part.is_file() else 0
            if got == 0 and isinstance(exc, urllib.error.URLError):
                raise _offline(url, exc.reason) from None
            if attempt == retries:
                raise RlattnError(
                    f"the download of {url} broke off after {got} bytes ({exc}); run the same command again "
                    "to resume it"
                ) from None
            continue
        size = part.stat().st_size
        if total is not None and size < total:
            continue  # the connection closed early without an error: ask for the rest
        if total is not None and size > total:
            part.unlink()
            raise RlattnError(f"{url}: received {size} bytes where the server announced {total}; deleted, run again")
        break
    else:
        raise RlattnError(
            f"the download of {url} stayed incomplete after {retries + 1} tries; run the same command again"
        )
    if checksum:
        algorithm = checksum_algorithm(checksum)
        digest = _digest(part, algorithm)
        if digest.lower() != checksum.lower():
            part.unlink()
            raise RlattnError(
                f"{dest.name}: {algorithm} {digest} does not match the source's {checksum}; the file was deleted, "
                "run the same command again"
            )
    os.replace(part, dest)
    return dest


def _receive(request, part: Path, have: int, timeout: float, progress: bool, label: str) -> int | None:
    """Append the response's body to ``part``; the file's full size when the server says it."""
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if have and response.status != 206:  # the server ignored the range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        content_range = response.headers.get("Content-Range", "")
        if response.status == 206 and "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            total = int(content_range.rsplit("/", 1)[1])
        mode = "ab" if have else "wb"
        with open(part, mode) as fh, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=label, disable=not progress, leave=False
        ) as bar:
            while block := response.read(CHUNK):
                fh.write(block)
                bar.update(len(block))
    return total


def _safe_extract(archive: zipfile.ZipFile, into: Path) -> None:
    root = into.resolve()
    for member in archive.namelist():
        target = (into / member).resolve()
        if root != target and root not in target.parents:
            raise RlattnError(f"{archive.filename} has a member outside its folder ({member}); not unpacked")
    archive.extractall(into)


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(path)
        bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        path.unlink(missing_ok=True)
        raise RlattnError(
            f"{path.name} is not a readable zip archive ({exc}); deleted, run the same command again"
        ) from None
    if bad is not None:
        archive.close()
        path.unlink(missing_ok=True)
        raise RlattnError(f"{path.name}: {bad} is corrupt; the archive was deleted, run the same command again")
    return archive


def _single_folder(folder: Path) -> Path:
    """The folder an archive's content lives in: its one top folder, or the unpacked folder."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else folder


def install_folder(build: Callable[[Path], Path], dest: Path, check: Callable[[Path], None]) -> Path:
    """Make ``dest`` in one step: ``build(tmp)`` fills a hidden folder beside it and returns the
    folder to install, ``check`` vets it, then it is renamed to ``dest``. On any error nothing is
    left at ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.unpacking-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        ready = build(tmp)
        check(ready)
        os.replace(ready, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def check_otb_folder(folder: Path) -> None:
    frames = [p for p in (folder / "img").glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    if not frames or not ground_truth_files(folder):
        raise RlattnError(f"the archive of {folder.name} holds no img/ frames with a groundtruth_rect file")


def otb_names(what: str) -> list[str]:
    """The targets of a set name (``otb2013``...) or of a comma-separated list of sequences."""
    if what.lower() in SETS:
        return list(SETS[what.lower()])
    names = [n.strip() for n in what.split(",") if n.strip()]
    if not names:
        raise RlattnError(f"nothing to get in {what!r}: give otb2013, otb2015, tb50, vot2016 or sequence names")
    return names


def get_otb(
    names: list[str], root: Path, url: str = OTB_URL, progress: bool = True, keep_archives: bool = False
) -> list[Fetched]:
    """Each named target's folder under ``<root>/otb/`` (two targets of one folder share it)."""
    otb = Path(root) / "otb"
    downloads = Path(root) / "downloads"
    out = []
    folders = archives(names)
    for name in tqdm(folders, desc="sequences", unit="seq", disable=not progress or len(folders) < 2):
        dest = otb / name
        if dest.is_dir():
            out.append(Fetched(name, dest, False))
            continue
        archive = fetch(url.format(name=name), downloads / f"{name}.zip", progress=progress)

        def build(tmp: Path, archive: Path = archive, name: str = name) -> Path:
            with _open_zip(archive) as zf:
                _safe_extract(zf, tmp)
            return _single_folder(tmp)

        try:
            install_folder(build, dest, check_otb_folder)
        except RlattnError:
            archive.unlink(missing_ok=True)  # a bad archive is fetched afresh next time
            raise
        if not keep_archives:
            archive.unlink(missing_ok=True)
        out.append(Fetched(name, dest, True))
    return out


def get_vot(stack: str, root: Path, url: str | None = None, progress: bool = True) -> list[Fetched]:
    """Every sequence of a VOT stack under ``<root>/vot/<seq>/`` (``color/`` + ``groundtruth.txt``)."""
    url = url or VOT_STACKS.get(stack)
    if url is None:
        raise RlattnError(f"unknown VOT stack {stack!r}; known: {', '.join(VOT_STACKS)}")
    downloads = Path(root) / "downloads" / stack
    meta_path = fetch(url, downloads / "description.json", progress=False)
    try:
        meta = json.loads(meta_path.read_text())
        sequences = meta["sequences"]
    except (json.JSONDecodeError, KeyError, TypeError):
        meta_path.unlink(missing_ok=True)
        raise RlattnError(f"{url} is not a VOT stack description (a JSON object with 'sequences')") from None
    out = []
    for seq in tqdm(sequences, desc=stack, unit="seq", disable=not progress):
        name = seq["name"]
        dest = Path(root) / "vot" / name
        if dest.is_dir():
            out.append(Fetched(name, dest, False))
            continue
        parts = {"": seq["annotations"], **{f"{c}": v for c, v in seq.get("channels", {}).items()}}
        files = {
            sub: fetch(
                urljoin(url, entry["url"]),
                downloads / name / f"{sub or 'annotations'}.zip",
                checksum=entry.get("checksum") or entry.get("uid"),
                progress=progress,
            )
            for sub, entry in parts.items()
        }

        def build(tmp: Path, files: dict = files) -> Path:
            for sub, archive in files.items():
                with _open_zip(archive) as zf:
                    _safe_extract(zf, tmp / sub if sub else tmp)
            return tmp

        def check(folder: Path, name: str = name) -> None:
            if not (folder / "groundtruth.txt").is_file() or not (folder / "color").is_dir():
                raise RlattnError(f"the archives of {name} hold no groundtruth.txt with color/ frames")

        install_folder(build, dest, check)
        shutil.rmtree(downloads / name, ignore_errors=True)
        out.append(Fetched(name, dest, True))
    return out


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
