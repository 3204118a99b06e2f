"""Reading ``.npz`` files that may be hostile, and writing files atomically.

:func:`read_npz` returns what ``np.load(path, allow_pickle=False)`` would, but
treats the file as untrusted. It reads every member's ``.npy`` header before any
of the data, and refuses, with a one-line :class:`NpzError` naming the file and
the member:

* a file that is not a zip or is truncated; duplicate member names, names not
  ending in ``.npy``, encrypted members, and compression other than deflate
  (zipfile inflates bzip2 and LZMA members with no bound on the output);
* a header that cannot be parsed, Python objects (only unpickling could restore
  them), a dtype the caller does not accept, a member the caller does not expect;
* a header whose shape and dtype declare a data size other than the one the zip
  entry records for the member, or a total over the caller's byte budget; so a
  header declaring a 200,000 x 200,000 float64 array, or a small deflated member
  that inflates to hundreds of megabytes, is refused before any data is read;
* a member whose data stream ends before, or runs past, its declared size. The
  data is read in bounded chunks, at most the declared size plus one byte, so the
  sizes the zip records are never trusted for more than the budget.

:func:`write_bytes_atomic` and :func:`write_npz_atomic` replace a file so that a
crash leaves the old content or the new, never a mix of the two.
"""

import contextlib
import io
import math
import os
import zipfile
import zlib
from typing import NamedTuple

import numpy as np
from numpy.lib import format as npy_format

_HEADER_LIMIT = 10000
_HEAD_BYTES = npy_format.MAGIC_LEN + 4 + _HEADER_LIMIT
_CHUNK_BYTES = 1 << 16
_HEADER_READERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
_DEFAULT_KINDS = "biufU"
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError, NotImplementedError)


class NpzError(ValueError):
    """An ``.npz`` file was refused. The message is one line naming the file and,
    when one member is at fault, that member."""


class _Member(NamedTuple):
    """One member's zip entry and what its ``.npy`` header declares."""

    info: zipfile.ZipInfo
    name: str
    shape: tuple
    fortran_order: bool
    dtype: np.dtype
    header_len: int
    nbytes: int


def read_npz(path, *, max_bytes, expect=None, allowed_dtypes=None):
    """Read an ``.npz`` file that may be damaged or hostile; return ``{name: array}``.

    Names are the member names without the ``.npy`` suffix, in file order; arrays
    are writable and equal to what ``np.load(path, allow_pickle=False)`` returns.
    Every header is read and checked before any member's data, so a file refused
    on its headers costs a few kilobytes of memory whatever it declares, and one
    refused while its data is read costs at most ``max_bytes``. Raises
    :class:`NpzError`.

    path: the file, a str or os.PathLike; messages name it as given.
    max_bytes: the budget for the sum of all members' declared data sizes
        (product of the shape times the item size, headers not counted). Reading
        an accepted file allocates its declared size plus a few hundred kilobytes.
    expect: optional callable ``expect(name, dtype, shape)`` that refuses members
        this kind of file should not hold; called in file order with each member's
        header, after the dtype check and before any data is read (the shape may be
        absurd). It returns None to accept the member; to refuse it, it raises
        :class:`NpzError` or returns a message (a str), and the error then reads
        ``"<path>: member '<name>': <message>"``. Other exceptions propagate.
    allowed_dtypes: optional collection of the dtypes accepted (anything
        ``np.dtype()`` takes; byte order counts). By default: bool, signed and
        unsigned integers, floats, and unicode strings (checkpoints store JSON as
        0-d unicode arrays), in either byte order. Object dtypes, and dtypes holding
        objects, are refused whatever this says.
    """
    label = os.fspath(path)
    allowed = None if allowed_dtypes is None else {np.dtype(d) for d in allowed_dtypes}
    with _open_zip(path, label) as zf:
        members = []
        total = 0
        for info in _entries(zf, label):
            member = _read_header(zf, info, label)
            _check_member(member, label, allowed, expect)
            total += member.nbytes
            if total > max_bytes:
                raise NpzError(f"{label}: member {member.name!r} {_declares(member)}, which brings the file's "
                               f"arrays to {_size(total)}, over the budget of {_size(max_bytes)}")
            members.append(member)
        return {m.name: _read_data(zf, m, label) for m in members}


def _open_zip(path, label):
    """The file as a ZipFile; refuses files that are missing, unreadable, not zips or truncated."""
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise NpzError(f"{label}: not an .npz file (not a zip archive, or a truncated one)") from None
    except (NotImplementedError, ValueError) as err:
        raise NpzError(f"{label}: not a readable .npz file: {_one_line(err)}") from None
    except OSError as err:
        raise NpzError(f"{label}: cannot be read: {err.strerror or err}") from None


def _entries(zf, label):
    """The zip entries, after refusing duplicate names, names not ending in ``.npy``,
    encrypted entries and compression methods other than stored and deflated."""
    infos = zf.infolist()
    seen = set()
    for info in infos:
        name = info.filename
        if name in seen:
            raise NpzError(f"{label}: member {name!r} appears more than once")
        seen.add(name)
        if not name.endswith(".npy"):
            raise NpzError(f"{label}: member {name!r} is not an .npy array (the name does not end in .npy)")
        if info.flag_bits & 0x1:
            raise NpzError(f"{label}: member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise NpzError(f"{label}: member {name!r} uses zip compression method {info.compress_type}; "
                           f"only stored and deflated members are read")
    return infos


def _read_header(zf, info, label):
    """The member's ``.npy`` header, parsed from at most its first few kilobytes."""
    name = info.filename[:-len(".npy")]
    try:
        with zf.open(info) as f:
            head = io.BytesIO(f.read(_HEAD_BYTES))
        version = npy_format.read_magic(head)
        if version not in _HEADER_READERS:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        shape, fortran_order, dtype = _HEADER_READERS[version](head, max_header_size=_HEADER_LIMIT)
    except _READ_ERRORS as err:
        raise NpzError(f"{label}: member {name!r} has no readable .npy header: {_one_line(err)}") from None
    if any(n < 0 for n in shape):
        raise NpzError(f"{label}: member {name!r} declares the negative shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    return _Member(info, name, shape, fortran_order, dtype, head.tell(), nbytes)


def _check_member(member, label, allowed, expect):
    """Refuse a member whose dtype is not accepted, that ``expect`` refuses, or
    whose declared size differs from the data size its zip entry records."""
    name, dtype = member.name, member.dtype
    if dtype.hasobject:
        raise NpzError(f"{label}: member {name!r} holds Python objects (dtype {dtype}), "
                       f"which only unpickling could read")
    if not _dtype_allowed(dtype, allowed):
        accepted = "bool, integer, float or unicode" if allowed is None else ", ".join(sorted(map(str, allowed)))
        raise NpzError(f"{label}: member {name!r} has dtype {dtype}; accepted: {accepted}")
    if expect is not None:
        try:
            problem = expect(name, dtype, member.shape)
        except NpzError as err:
            problem = str(err)
        if problem is not None:
            raise NpzError(f"{label}: member {name!r}: {_one_line(problem)}")
    held = member.info.file_size - member.header_len
    if member.nbytes != held:
        where = ("the file holds for it" if member.info.compress_type == zipfile.ZIP_STORED
                 else "its zip entry says it inflates to")
        relation = "more" if member.nbytes > held else "less"
        raise NpzError(f"{label}: member {name!r} {_declares(member)}, {relation} than the {_size(held)} {where}")


def _dtype_allowed(dtype, allowed):
    """Whether ``dtype`` is in ``allowed``, or by default of a plain kind with a nonzero size."""
    if allowed is not None:
        return dtype in allowed
    return dtype.kind in _DEFAULT_KINDS and dtype.itemsize > 0


def _read_data(zf, member, label):
    """The member's array, read in chunks into a buffer of its declared size.

    At most the declared size plus one byte is read, and the member is refused if
    its stream ends early or holds more. Reading to the end also makes zipfile
    check the entry's CRC-32.
    """
    raw = np.empty(member.nbytes, dtype=np.uint8)
    view = memoryview(raw)
    filled = 0
    try:
        with zf.open(member.info) as f:
            f.read(member.header_len)
            while filled < member.nbytes:
                chunk = f.read(min(_CHUNK_BYTES, member.nbytes - filled))
                if not chunk:
                    break
                view[filled:filled + len(chunk)] = chunk
                filled += len(chunk)
            extra = f.read(1)
    except _READ_ERRORS as err:
        raise NpzError(f"{label}: member {member.name!r} cannot be read: {_one_line(err)}") from None
    if filled < member.nbytes:
        raise NpzError(f"{label}: member {member.name!r} {_declares(member)}, "
                       f"but its data ends after {_size(filled)}")
    if extra:
        raise NpzError(f"{label}: member {member.name!r} {_declares(member)}, but holds more data than that")
    flat = raw.view(member.dtype)
    if member.fortran_order:
        return flat.reshape(member.shape[::-1]).transpose()
    return flat.reshape(member.shape)


def _declares(member):
    return f"declares shape {member.shape} {member.dtype} ({_size(member.nbytes)})"


def _size(nbytes):
    """A byte count for messages: '800 bytes', '1.5 MB', '320 GB' (powers of 1000)."""
    if nbytes < 1000:
        return f"{nbytes} bytes"
    for unit in ("kB", "MB", "GB"):
        nbytes /= 1000
        if nbytes < 1000:
            return f"{nbytes:.3g} {unit}"
    return f"{nbytes / 1000:.3g} TB"


def _one_line(text):
    return " ".join(str(text).split())


def write_bytes_atomic(path, data):
    """Replace the file at ``path`` with ``data``, atomically.

    The bytes go to ``<path>.tmp-<pid>`` in the same directory (so the rename stays
    on one filesystem), are flushed and fsynced, and the temporary file is renamed
    over ``path`` with ``os.replace``; the directory is then fsynced so that the
    rename survives a power cut. A crash leaves either the old file or the new one.
    On any failure the temporary file is removed, the old file is left as it was,
    and the error is raised (naming ``path`` where the temporary file cannot be
    created).

    path: the file to replace, a str or os.PathLike.
    data: the new content, bytes or any bytes-like object.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        f = open(tmp, "wb")
    except OSError as err:
        err.filename = path  # the file asked for, not its temporary name
        raise
    try:
        with f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    dir_fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_npz_atomic(path, arrays):
    """Write ``arrays`` as an ``.npz`` to ``path`` with :func:`write_bytes_atomic`.

    The bytes are those ``np.savez(open(path, "wb"), **arrays)`` writes (members
    stored uncompressed, in the dict's order), built in memory first.

    path: the file to replace, a str or os.PathLike (no ``.npz`` is appended).
    arrays: a dict of name -> array; names become member names plus ``.npy``.
    """
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getbuffer())
