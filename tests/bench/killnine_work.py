"""One worker of killnine.sh: a mixed read/write/metadata loop on a bramble
mount while the server is being killed.  Every file whose fsync returned is
journaled (name, size, sha256) in a local file; at the end killnine.sh checks
each against the export.  Errors are counted by errno name.

usage: killnine_work.py DIR JOURNAL ERRORS STOPFILE SEED
"""
import errno
import hashlib
import json
import os
import random
import sys

d, journal_path, errors_path, stop, seed = sys.argv[1:6]
rng = random.Random(int(seed))
os.makedirs(d, exist_ok=True)
live = {}          # name -> (size, sha256), fsync acknowledged
errors = {}
ops = 0
n = 0


def note_error(e, what):
    name = errno.errorcode.get(e.errno, str(e.errno))
    errors[name] = errors.get(name, 0) + 1
    if e.errno in (errno.ESTALE, errno.EEXIST, errno.ENOENT):
        print("%s: %s: %s" % (d, what, e), file=sys.stderr)


def create():
    global n
    n += 1
    name = "f%06d" % n
    data = rng.randbytes(rng.choice((4096, 65536, 262144, 1 << 20)))
    fd = os.open(os.path.join(d, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    live[name] = (len(data), hashlib.sha256(data).hexdigest())


def verify():
    name = rng.choice(list(live))
    with open(os.path.join(d, name), "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != live[name][1]:
        errors["WRONG_DATA"] = errors.get("WRONG_DATA", 0) + 1


def rename():
    global n
    old = rng.choice(list(live))
    n += 1
    new = "r%06d" % n
    os.rename(os.path.join(d, old), os.path.join(d, new))
    live[new] = live.pop(old)


def unlink():
    name = rng.choice(list(live))
    os.unlink(os.path.join(d, name))
    del live[name]


def meta():
    sub = os.path.join(d, "sub%d" % rng.randrange(4))
    if os.path.isdir(sub):
        os.rmdir(sub)
    else:
        os.mkdir(sub)
    for e in os.scandir(d):
        e.stat(follow_symlinks=False)


while not os.path.exists(stop):
    op = rng.random()
    fn = create if op < 0.35 or len(live) < 4 else \
        verify if op < 0.65 else rename if op < 0.75 else \
        unlink if op < 0.85 else meta
    try:
        fn()
    except OSError as e:
        note_error(e, fn.__name__)
    ops += 1

with open(journal_path, "w") as f:
    json.dump(live, f)
with open(errors_path, "w") as f:
    json.dump({"ops": ops, "errors": errors}, f)
