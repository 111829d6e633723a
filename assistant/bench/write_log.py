"""Every write a process makes to the files of one folder, in order, so any moment can be rebuilt.

The torn-write sweep (`bench/reliability_torn.py`) needs the disk as it would be after a crash or a
power cut between any two writes of the real code (the history's `Store`, the image library, settings),
without an SQLite test VFS (Python's `sqlite3` cannot register one). A small C library loaded with
``LD_PRELOAD`` wraps the C library's file calls (open with create/truncate, write, pwrite, ftruncate,
fsync, fdatasync, rename, unlink) and appends each call on a file under the watched folder, with its
data, to a log; the call itself then runs unchanged. The shared-memory index (``-shm``) is not logged:
SQLite rebuilds it after a crash, and a power cut loses it.

`replay` applies the log to a copy of the folder as it was before the process started, up to any cut:

- a crash (``kill -9``, the app dying) keeps every write made before the cut: the kernel has them;
- a power cut keeps what each file had at its last fsync before the cut, and of the later writes any
  subset, each whole, dropped or torn at a 512-byte sector (chosen by a seeded generator). Directory
  operations (create, rename, unlink) happen in order; ext4 and most file systems order a rename after
  the data written before it only when it was fsynced, which the code under test does.

Only Linux with a C compiler (``cc``) builds the library; `build_library` returns None elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_WRITE = 2, OP_TRUNC = 3, OP_SYNC = 4, OP_RENAME = 5, OP_UNLINK = 6 };
#define MAXFD 4096

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int log_fd = -1;
static char watched[PATH_MAX];
static size_t watched_len = 0;
static char *paths[MAXFD];
static int appending[MAXFD];
static int ready = 0;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_close)(int);

static void setup(void) {
    if (ready) return;
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_openat64 = dlsym(RTLD_NEXT, "openat64");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    real_close = dlsym(RTLD_NEXT, "close");
    const char *dir = getenv("WRITE_LOG_DIR");
    const char *log = getenv("WRITE_LOG_FILE");
    if (dir && log) {
        strncpy(watched, dir, sizeof(watched) - 1);
        watched_len = strlen(watched);
        log_fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    }
    ready = 1;
}

static int is_watched(const char *path) {
    if (!path || log_fd < 0 || strncmp(path, watched, watched_len) != 0) return 0;
    if (path[watched_len] != '/' && path[watched_len] != 0) return 0;
    size_t n = strlen(path);
    return !(n > 4 && strcmp(path + n - 4, "-shm") == 0);
}

static void put(const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = real_write(log_fd, p, n);
        if (w <= 0) return;
        p += w; n -= (size_t)w;
    }
}

static void record(int op, const char *a, const char *b, int64_t offset, const void *data, uint64_t n) {
    uint32_t la = a ? (uint32_t)strlen(a) : 0, lb = b ? (uint32_t)strlen(b) : 0;
    uint8_t o = (uint8_t)op;
    pthread_mutex_lock(&lock);
    put(&o, 1); put(&la, 4); put(a, la); put(&lb, 4); put(b, lb); put(&offset, 8); put(&n, 8);
    if (data && n) put(data, n);
    pthread_mutex_unlock(&lock);
}

static char *fd_path(int fd) {
    return (fd >= 0 && fd < MAXFD) ? paths[fd] : NULL;
}

static void absolute(int dirfd, const char *path, char *out) {
    if (path[0] == '/') { snprintf(out, PATH_MAX, "%s", path); return; }
    char link[64], base[PATH_MAX];
    if (dirfd == AT_FDCWD) snprintf(link, sizeof link, "/proc/self/cwd");
    else snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof(base) - 1);
    if (n < 0) { snprintf(out, PATH_MAX, "%s", path); return; }
    base[n] = 0;
    snprintf(out, PATH_MAX, "%s/%s", base, path);
}

static void opened(int fd, int dirfd, const char *path, int flags) {
    if (fd < 0 || fd >= MAXFD) return;
    char full[PATH_MAX];
    absolute(dirfd, path, full);
    pthread_mutex_lock(&lock);
    free(paths[fd]);
    paths[fd] = NULL;
    if (is_watched(full)) {
        paths[fd] = strdup(full);
        appending[fd] = (flags & O_APPEND) != 0;
        if (flags & (O_CREAT | O_TRUNC)) record(OP_OPEN, full, NULL, flags & O_TRUNC ? 1 : 0, NULL, 0);
    }
    pthread_mutex_unlock(&lock);
}

#define OPEN_MODE(flags) mode_t mode = 0; \
    if ((flags) & (O_CREAT | O_TMPFILE)) { \
        va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); \
    }

int open(const char *path, int flags, ...) {
    setup(); OPEN_MODE(flags);
    int fd = real_open(path, flags, mode); opened(fd, AT_FDCWD, path, flags); return fd;
}
int open64(const char *path, int flags, ...) {
    setup(); OPEN_MODE(flags);
    int fd = real_open64(path, flags, mode); opened(fd, AT_FDCWD, path, flags); return fd;
}
int openat(int dirfd, const char *path, int flags, ...) {
    setup(); OPEN_MODE(flags);
    int fd = real_openat(dirfd, path, flags, mode); opened(fd, dirfd, path, flags); return fd;
}
int openat64(int dirfd, const char *path, int flags, ...) {
    setup(); OPEN_MODE(flags);
    int fd = real_openat64(dirfd, path, flags, mode); opened(fd, dirfd, path, flags); return fd;
}

int close(int fd) {
    setup();
    if (fd >= 0 && fd < MAXFD && paths[fd]) {
        pthread_mutex_lock(&lock); free(paths[fd]); paths[fd] = NULL; pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}

static void logged_write(int fd, const void *buf, ssize_t done, int64_t offset) {
    char *p = fd_path(fd);
    if (p && done > 0) record(OP_WRITE, p, NULL, offset, buf, (uint64_t)done);
}

ssize_t write(int fd, const void *buf, size_t n) {
    setup();
    char *p = fd_path(fd);
    if (!p) return real_write(fd, buf, n);
    pthread_mutex_lock(&lock);
    int64_t offset;
    if (appending[fd]) { struct stat st; fstat(fd, &st); offset = st.st_size; }
    else offset = lseek(fd, 0, SEEK_CUR);
    ssize_t done = real_write(fd, buf, n);
    logged_write(fd, buf, done, offset);
    pthread_mutex_unlock(&lock);
    return done;
}
ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
    setup();
    ssize_t done = real_pwrite(fd, buf, n, offset); logged_write(fd, buf, done, offset); return done;
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t offset) {
    setup();
    ssize_t done = real_pwrite64(fd, buf, n, offset); logged_write(fd, buf, done, offset); return done;
}
int ftruncate(int fd, off_t length) {
    setup();
    int r = real_ftruncate(fd, length);
    if (r == 0 && fd_path(fd)) record(OP_TRUNC, fd_path(fd), NULL, length, NULL, 0);
    return r;
}
int ftruncate64(int fd, off_t length) {
    setup();
    int r = real_ftruncate64(fd, length);
    if (r == 0 && fd_path(fd)) record(OP_TRUNC, fd_path(fd), NULL, length, NULL, 0);
    return r;
}
int fsync(int fd) {
    setup();
    int r = real_fsync(fd);
    if (r == 0 && fd_path(fd)) record(OP_SYNC, fd_path(fd), NULL, 0, NULL, 0);
    return r;
}
int fdatasync(int fd) {
    setup();
    int r = real_fdatasync(fd);
    if (r == 0 && fd_path(fd)) record(OP_SYNC, fd_path(fd), NULL, 0, NULL, 0);
    return r;
}
int rename(const char *a, const char *b) {
    setup();
    char fa[PATH_MAX], fb[PATH_MAX];
    absolute(AT_FDCWD, a, fa); absolute(AT_FDCWD, b, fb);
    int r = real_rename(a, b);
    if (r == 0 && (is_watched(fa) || is_watched(fb))) record(OP_RENAME, fa, fb, 0, NULL, 0);
    return r;
}
int renameat(int da, const char *a, int db, const char *b) {
    setup();
    char fa[PATH_MAX], fb[PATH_MAX];
    absolute(da, a, fa); absolute(db, b, fb);
    int r = real_renameat(da, a, db, b);
    if (r == 0 && (is_watched(fa) || is_watched(fb))) record(OP_RENAME, fa, fb, 0, NULL, 0);
    return r;
}
int unlink(const char *path) {
    setup();
    char full[PATH_MAX];
    absolute(AT_FDCWD, path, full);
    int r = real_unlink(path);
    if (r == 0 && is_watched(full)) record(OP_UNLINK, full, NULL, 0, NULL, 0);
    return r;
}
int unlinkat(int dirfd, const char *path, int flags) {
    setup();
    char full[PATH_MAX];
    absolute(dirfd, path, full);
    int r = real_unlinkat(dirfd, path, flags);
    if (r == 0 && !(flags & AT_REMOVEDIR) && is_watched(full)) record(OP_UNLINK, full, NULL, 0, NULL, 0);
    return r;
}
"""

OPEN, WRITE, TRUNC, SYNC, RENAME, UNLINK = 1, 2, 3, 4, 5, 6
_HEAD = struct.Struct("<BI")
_TAIL = struct.Struct("<qQ")
SECTOR = 512


@dataclass(frozen=True)
class Op:
    kind: int
    path: str  # relative to the watched folder
    other: str = ""  # RENAME: the new name
    offset: int = 0  # WRITE: where; TRUNC: the new length; OPEN: 1 when it truncated
    data: bytes = b""


def build_library(folder: Path) -> Path | None:
    """Compiles the logging library into `folder` (cached by source digest); None without cc/Linux."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not Path("/proc/self/fd").is_dir():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    library = folder / f"write_log_{hashlib.sha256(_SOURCE.encode()).hexdigest()[:12]}.so"
    if library.exists():
        return library
    source = folder / "write_log.c"
    source.write_text(_SOURCE, encoding="utf-8")
    built = subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source), "-ldl",
                            "-lpthread"], capture_output=True, text=True)
    if built.returncode != 0:
        raise RuntimeError(f"the write-log library did not compile: {built.stderr[-2000:]}")
    return library


def environment(library: Path, watched: Path, log: Path) -> dict[str, str]:
    """What a child process needs in its environment to log its writes under `watched` to `log`."""
    return {"LD_PRELOAD": str(library), "WRITE_LOG_DIR": str(Path(watched).resolve()),
            "WRITE_LOG_FILE": str(log)}


def read_log(log: Path, watched: Path) -> list[Op]:
    data = Path(log).read_bytes() if Path(log).exists() else b""
    root = str(Path(watched).resolve()) + "/"
    ops: list[Op] = []
    at = 0
    while at + _HEAD.size <= len(data):
        kind, la = _HEAD.unpack_from(data, at)
        at += _HEAD.size
        a = data[at:at + la].decode("utf-8", "surrogateescape")
        at += la
        (lb,) = struct.unpack_from("<I", data, at)
        at += 4
        b = data[at:at + lb].decode("utf-8", "surrogateescape")
        at += lb
        offset, length = _TAIL.unpack_from(data, at)
        at += _TAIL.size
        payload = data[at:at + length] if kind == WRITE else b""
        at += length if kind == WRITE else 0
        ops.append(Op(kind, a.removeprefix(root), b.removeprefix(root), offset, payload))
    return ops


def replay(before: Path, ops: list[Op], cut: int, into: Path, *, power_cut: bool = False,
           rng: random.Random | None = None) -> Path:
    """`into` becomes the folder `before` with `ops[:cut]` applied: as after a crash at that moment,
    or (`power_cut`) as after a power cut then (see the module docstring). Returns `into`."""
    if into.exists():
        shutil.rmtree(into)
    shutil.copytree(before, into)
    done = ops[:cut]
    lost: set[int] = set()
    torn: dict[int, int] = {}  # write -> bytes of it that reached the disk
    if power_cut:
        rng = rng or random.Random(cut)
        synced: dict[str, int] = {}  # each file's last fsync before the cut
        for index, op in enumerate(done):
            if op.kind == SYNC:
                synced[op.path] = index
        for index, op in enumerate(done):
            if op.kind in (WRITE, TRUNC) and index > synced.get(op.path, -1):
                fate = rng.random()
                if fate < 1 / 3:
                    lost.add(index)
                elif fate < 2 / 3 and op.kind == WRITE and len(op.data) > SECTOR:
                    torn[index] = SECTOR * rng.randrange(1, -(-len(op.data) // SECTOR))
    for index, op in enumerate(done):
        if index not in lost:
            apply(into, op, torn.get(index))
    return into


def crash_states(before: Path, ops: list[Op], points: Iterator[int] | list[int], into: Path
                 ) -> Iterator[tuple[int, Path]]:
    """The folder after a crash at each of `points` (ascending), built incrementally: one pass over the
    log, each state copied to `into` (overwritten for the next point)."""
    work = into.with_name(into.name + "-work")
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(before, work)
    applied = 0
    for point in sorted(points):
        while applied < point:
            apply(work, ops[applied])
            applied += 1
        if into.exists():
            shutil.rmtree(into)
        shutil.copytree(work, into)
        yield point, into
    shutil.rmtree(work, ignore_errors=True)


def apply(root: Path, op: Op, keep: int | None = None) -> None:
    """Do `op` to the copy under `root`; `keep`: only that many bytes of a write reached the disk."""
    target = root / op.path
    if op.kind == OPEN:
        target.parent.mkdir(parents=True, exist_ok=True)
        if op.offset or not target.exists():
            target.write_bytes(b"")
    elif op.kind == WRITE:
        _write_at(target, op.offset, op.data if keep is None else op.data[:keep])
    elif op.kind == TRUNC:
        if target.exists():
            os.truncate(target, op.offset)
    elif op.kind == RENAME:
        if target.exists():
            destination = root / op.other
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, destination)
    elif op.kind == UNLINK:
        target.unlink(missing_ok=True)


def _write_at(path: Path, offset: int, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "r+b" if path.exists() else "w+b") as handle:
        handle.seek(offset)
        handle.write(data)


def cuts(ops: list[Op], limit: int | None = None, seed: int = 0) -> Iterator[int]:
    """Cut points: after every write-like call (all of them, or `limit` spread evenly and shuffled)."""
    points = [i + 1 for i, op in enumerate(ops) if op.kind != SYNC] + [0]
    points = sorted(set(points))
    if limit is not None and len(points) > limit:
        step = len(points) / limit
        points = [points[int(i * step)] for i in range(limit)]
        random.Random(seed).shuffle(points)
    yield from points


def scratch(prefix: str = "torn-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
