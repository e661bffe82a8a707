"""The C profile writers (folded, pprof, SVG, speedscope) from Python."""
import dataclasses
import errno
import gzip
import html
import json
import os
import random
import shutil
import subprocess
import threading
import zlib
from collections import defaultdict

import pytest

import sampler
from sampler import _profile

DATA = bytes(random.Random(2).choices(b"abcdefghijklmnop", k=1 << 18))


def zlib_work(rounds=12):
    for _ in range(rounds):
        zlib.compress(DATA, 6)


def run_zlib(**kwargs):
    """A Sampler run over two zlib threads."""
    with sampler.Sampler(interval=0.002, current_thread=False, **kwargs) as s:
        ts = [threading.Thread(target=zlib_work) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return s


def folded(path):
    """stack -> weight of a folded file (the weight after the last space)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            stack, _, w = line.rstrip("\n").rpartition(" ")
            assert stack and w.isdigit(), line
            out[stack] = out.get(stack, 0) + int(w)
    return out


@pytest.fixture(scope="module")
def zrun():
    return run_zlib()


def test_folded_totals_equal_drained_weight(zrun, tmp_path):
    # the profile counts a late signal's delayed weight as a frame of its own
    weight = sum(x.weight + x.delayed_weight for x in zrun.samples())
    assert weight > 50
    assert zrun.profile.totals().weight == weight
    zrun.write_folded(tmp_path / "s.folded")
    lines = folded(tmp_path / "s.folded")
    assert sum(lines.values()) == weight
    # thread roots are "name (tid)" of the sampled threads, with their threading
    # names (the threads exited before the write)
    tids = {x.tid for x in zrun.samples()}
    names = zrun.thread_names()
    assert {k.split(";")[0] for k in lines} == {f"{names[t]} ({t})" for t in tids}
    assert all(names[t].startswith("Thread-") for t in tids), names
    # without thread roots, same total
    zrun.write_folded(tmp_path / "n.folded", threads=False)
    assert sum(folded(tmp_path / "n.folded").values()) == weight


def test_module_writers_from_samples(zrun, tmp_path):
    samples = zrun.samples()
    weight = sum(x.weight + x.delayed_weight for x in samples)
    sampler.write_folded(tmp_path / "m.folded", samples)
    assert sum(folded(tmp_path / "m.folded").values()) == weight
    sampler.write_folded(str(tmp_path / "half.folded"), samples[::2], threads=False)
    assert sum(folded(tmp_path / "half.folded").values()) == sum(
        x.weight + x.delayed_weight for x in samples[::2])


def test_module_writer_drains_buffer(tmp_path):
    sampler.start(interval=0.002)
    zlib_work(6)
    sampler.stop()
    st = sampler.stats()
    want = st.weight + st.delayed_weight  # a late signal's delayed part: a frame of its own
    assert want > 0
    sampler.write_folded(tmp_path / "b.folded")  # samples=None: drains the buffer
    assert sum(folded(tmp_path / "b.folded").values()) == want
    assert sampler.drain() == []


def test_collector_keeps_everything(tmp_path):
    # A buffer of 8 samples would drop most of them without the collector.
    s = run_zlib(collect=True, collect_period_ms=5, buffer_capacity=64)
    st = s.stats()
    assert st.dropped == 0, st
    assert s.profile.totals().weight == st.weight + st.delayed_weight
    assert st.weight > 50
    s.write_folded(tmp_path / "c.folded")
    assert sum(folded(tmp_path / "c.folded").values()) == st.weight + st.delayed_weight
    with pytest.raises(ValueError):
        s.samples()


def test_pprof_is_gzipped_protobuf(zrun, tmp_path):
    out = tmp_path / "cpu.pb.gz"
    zrun.write_pprof(out)
    raw = out.read_bytes()
    assert raw[:2] == b"\x1f\x8b", raw[:4]
    body = gzip.decompress(raw)
    # field 1 (sample_type), wire type 2: tag byte 0x0a; the string table holds the names
    assert body[:1] == b"\x0a" and b"cpu" in body and b"nanoseconds" in body
    assert b"libz" in body

    go = shutil.which("go")
    if go is None:
        pytest.skip("go not installed: `go tool pprof` check skipped")
    env = dict(os.environ, HOME=str(tmp_path), GOCACHE=str(tmp_path / "gocache"),
               GOPROXY="off", GOFLAGS="-mod=mod", GOPATH=str(tmp_path / "gopath"))
    r = subprocess.run([go, "tool", "pprof", "-top", "-symbolize=none", str(out)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    assert "Type: cpu" in text and "libz" in text, text


def test_module_write_pprof(zrun, tmp_path):
    sampler.write_pprof(tmp_path / "m.pb.gz", zrun.samples())
    assert (tmp_path / "m.pb.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_svg_names_hottest_frame(zrun, tmp_path):
    zrun.write_folded(tmp_path / "s.folded", threads=False)
    by_leaf = defaultdict(int)
    for stack, w in folded(tmp_path / "s.folded").items():
        by_leaf[stack.split(";")[-1]] += w
    hottest = max(by_leaf, key=by_leaf.get)
    zrun.write_svg(tmp_path / "s.svg")
    svg = (tmp_path / "s.svg").read_text(encoding="utf-8")
    assert "<svg" in svg
    assert html.escape(hottest, quote=False) in svg, hottest
    sampler.write_svg(tmp_path / "m.svg", zrun.samples())
    assert "<svg" in (tmp_path / "m.svg").read_text(encoding="utf-8")


def test_zlib_profile_names_libz(zrun, tmp_path):
    zrun.write_folded(tmp_path / "z.folded")
    lines = folded(tmp_path / "z.folded")
    total = sum(lines.values())
    libz = sum(w for k, w in lines.items() if "libz" in k.split(";")[-1])
    # Debian's libz is stripped: frames are "libz.so.1.2.13+0x..." (or a name with libdw)
    assert libz > total / 2, sorted(lines.items(), key=lambda kv: -kv[1])[:5]


def test_pprof_unsupported(monkeypatch, zrun, tmp_path):
    real = _profile._format

    def without_pprof(row):
        f = real(row)
        return dataclasses.replace(f, available=False) if f.name == "pprof" else f

    monkeypatch.setattr(_profile, "_format", without_pprof)
    with pytest.raises(sampler.UnsupportedError) as ei:
        zrun.write_pprof(tmp_path / "x.pb.gz")
    assert ei.value.code == -15 and ei.value.name == "SAMPLER_EUNSUPPORTED"
    assert "pprof" in str(ei.value)
    assert not (tmp_path / "x.pb.gz").exists()


def test_formats_table(zrun, tmp_path):
    fmts = sampler.formats()
    names = [f.name for f in fmts]
    assert names[0] == "folded" and {"folded", "pprof", "svg", "speedscope"} <= set(names)
    for f in fmts:
        assert f.extension.startswith(".") and f.description
        assert sampler.format_for_path("x" + f.extension) == f
    assert sampler.format_for_path("x.txt") is None
    assert {f.name: f.available for f in fmts}["pprof"] == ("pprof" in sampler.profile_features())
    # the ending picks the writer; a name given wins over the ending
    assert zrun.write(tmp_path / "a.svg").name == "svg"
    assert (tmp_path / "a.svg").read_bytes().startswith(b"<?xml")
    assert zrun.write(tmp_path / "b.svg", "folded").name == "folded"
    assert sum(folded(tmp_path / "b.svg").values()) == zrun.profile.totals().weight
    assert zrun.write(tmp_path / "c.txt").name == "folded"  # the default
    if "pprof" in sampler.profile_features():
        assert zrun.profile.write(tmp_path / "d.pb.gz").name == "pprof"
        assert gzip.decompress((tmp_path / "d.pb.gz").read_bytes())
    with pytest.raises(sampler.InvalidArgumentError) as ei:
        zrun.write(tmp_path / "e", "json")
    assert "json" in str(ei.value) and "svg" in str(ei.value)
    assert not (tmp_path / "e").exists()


def test_speedscope_json(zrun, tmp_path):
    # picked by the file name's ending; the threads' weights in nanoseconds
    path = tmp_path / "x.speedscope.json"
    assert zrun.profile.write(path).name == "speedscope"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert doc["exporter"] == "libsampler " + sampler.library_version()
    t = zrun.profile.totals()
    profs = doc["profiles"]
    weights = [sum(p["weights"]) for p in profs]
    assert sum(weights) == t.weight * t.interval_ns
    assert [p["endValue"] for p in profs] == weights
    assert doc["activeProfileIndex"] == weights.index(max(weights))
    # one profile per thread, named as the folded writer roots its stacks
    roots = defaultdict(int)
    for stack, w in folded_of(zrun, tmp_path).items():
        roots[stack.split(";")[0]] += w * t.interval_ns
    assert {p["name"]: sum(p["weights"]) for p in profs} == dict(roots)
    nframes = len(doc["shared"]["frames"])
    assert all(0 <= i < nframes for p in profs for st in p["samples"] for i in st)


def folded_of(zrun, tmp_path):
    zrun.write_folded(tmp_path / "of.folded")
    return folded(tmp_path / "of.folded")


def test_features():
    f = sampler.profile_features()
    assert f <= {"libdw", "pprof"}


def test_write_errors(zrun, tmp_path):
    bad = tmp_path / "no" / "such" / "dir" / "x"
    for write in (zrun.write_folded, zrun.write_pprof, zrun.write_svg,
                  lambda p: zrun.profile.write(p, "speedscope")):
        with pytest.raises(sampler.ProfileIOError) as ei:
            write(bad)
        assert ei.value.code == -16 and ei.value.errno == errno.ENOENT, ei.value
        assert str(bad) in str(ei.value)


def test_never_started_sampler(tmp_path):
    with pytest.raises(sampler.NotStartedError):
        sampler.Sampler().write_pprof(tmp_path / "x.pb.gz")


def test_collector_errors():
    with sampler.Profile() as p:
        with pytest.raises(sampler.NotCollectingError) as ei:
            p.stop_collector()
        assert ei.value.code == -18
        p.start_collector(50)
        with pytest.raises(sampler.AlreadyCollectingError) as ei:
            p.start_collector(50)
        assert ei.value.code == -17
        p.stop_collector()
        with pytest.raises(sampler.InvalidArgumentError):
            p.start_collector(0)
    with pytest.raises(ValueError):
        p.totals()  # closed


def test_profile_add_and_reset():
    with sampler.Profile(interval_ns=1_000_000) as p:
        s = sampler.Sample(threading.get_native_id(), 0, 3, (0x1234, 0x5678))
        assert p.add([s, s._replace(pcs=())]) == 2
        t = p.totals()
        assert (t.samples, t.weight, t.stacks, t.threads, t.interval_ns) == (2, 6, 2, 1, 1_000_000)
        p.reset()
        assert p.totals().weight == 0
