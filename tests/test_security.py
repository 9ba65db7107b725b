"""Files and server: allow-listed roots (path traversal, absolute paths, symlinks out of a root) for every
place a path enters (model directories, their manifest files, test sets on the test-set page), the
server's bind address and XSRF protection, and that no weights file or store entry can execute code
(architecture only from params.json; h5 ``model_config`` never read; no pickle)."""
from __future__ import annotations

import io
import json
import marshal
import pickle
import re
import shutil
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import write_legacy_layers
from seqnn_engine import InputError
from seqnn_engine.model.modeldir import check_allowed, find_model_dirs, read_model_dir

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo"

TINY = {"model": {
    "seq_length": 128, "activation": "relu", "norm_type": "batch",
    "trunk": [{"name": "conv_dna", "filters": 4, "kernel_size": 5, "pool_size": 4},
              {"name": "conv_block", "filters": 4, "kernel_size": 3, "pool_size": 2}],
    "head": {"name": "final", "units": 2, "activation": "softplus"},
}}


def _weights(path: Path, legacy: bool = False):
    """Random weights for TINY at ``path`` (Keras 3 layout, or a legacy Keras 2 full save)."""
    import keras

    from seqnn_engine.model.build import build_network
    from seqnn_engine.model.spec import parse_params
    from seqnn_engine.model.weights import save_weights
    keras.utils.set_random_seed(0)
    net = build_network(parse_params(TINY), 0)
    if not legacy:
        save_weights(net.layers, path)
        return net
    with h5py.File(path, "w") as f:
        write_legacy_layers(f.create_group("model_weights"), net.layers, "v")
    return net


def make_model_dir(d: Path, weights_from: Path | None = None) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "params.json").write_text(json.dumps(TINY))
    if weights_from is None:
        _weights(d / "model.weights.h5")
    else:
        shutil.copy(weights_from, d / "model.weights.h5")
    return d


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """root/good (model dir), outside/evil (model dir outside the root), outside/secret.h5."""
    base = tmp_path_factory.mktemp("sec")
    root, outside = base / "root", base / "outside"
    good = make_model_dir(root / "good")
    evil = make_model_dir(outside / "evil", weights_from=good / "model.weights.h5")
    shutil.copy(good / "model.weights.h5", outside / "secret.h5")
    (outside / "secret.txt").write_text("secret")
    return {"base": base, "root": root, "outside": outside, "good": good, "evil": evil}


# ----------------------------------------------------------------------------------- allow-list (engine)

def test_check_allowed_paths(tree):
    root, outside = tree["root"], tree["outside"]
    assert check_allowed(root / "good" / "params.json", [root], "params") == (root / "good" / "params.json").resolve()
    for bad in (root / ".." / "outside" / "secret.txt", root / "good" / ".." / ".." / "outside" / "secret.txt",
                outside / "secret.txt", Path("/etc/passwd"), Path("/")):
        with pytest.raises(InputError, match="outside the allowed folders"):
            check_allowed(bad, [root], "file")
    # a sibling whose name starts with the root's name is not inside it
    twin = Path(str(root) + "_twin")
    twin.mkdir(exist_ok=True)
    (twin / "f").write_text("x")
    with pytest.raises(InputError):
        check_allowed(twin / "f", [root], "file")


@pytest.mark.parametrize("field,value", [
    ("weights", ["../../outside/secret.h5"]), ("weights", [None]), ("params", "/etc/passwd"),
    ("targets", "../outside/secret.txt"), ("genome", "/etc/hostname"), ("genes", "sub/../../x.gtf"),
    ("weights", "/tmp/../etc/passwd"),
])
def test_manifest_cannot_point_out(tree, tmp_path, field, value):
    d = make_model_dir(tmp_path / "m", weights_from=tree["good"] / "model.weights.h5")
    (d / "manifest.json").write_text(json.dumps({field: value}))
    with pytest.raises(InputError):
        read_model_dir(d)
    with pytest.raises(InputError):
        read_model_dir(d, allowed_roots=[tmp_path])


def test_symlinked_file_out_of_root(tree, tmp_path):
    root = tmp_path / "root"
    d = make_model_dir(root / "m", weights_from=tree["good"] / "model.weights.h5")
    (d / "model.weights.h5").unlink()
    (d / "model.weights.h5").symlink_to(tree["outside"] / "secret.h5")
    with pytest.raises(InputError, match="outside the allowed folders"):
        read_model_dir(d, allowed_roots=[root])
    assert find_model_dirs([root]) == []
    # a manifest naming a symlinked genome that leaves the root
    d2 = make_model_dir(root / "m2", weights_from=tree["good"] / "model.weights.h5")
    (d2 / "genome.fa").symlink_to(tree["outside"] / "secret.txt")
    (d2 / "manifest.json").write_text(json.dumps({"genome": "genome.fa"}))
    with pytest.raises(InputError, match="outside the allowed folders"):
        read_model_dir(d2, allowed_roots=[root])
    assert [m.path for m in find_model_dirs([root])] == []
    # a symlink that stays inside the root is fine
    (d2 / "genome.fa").unlink()
    (root / "shared.fa").write_text(">c\nACGT\n")
    (d2 / "genome.fa").symlink_to(root / "shared.fa")
    assert read_model_dir(d2, allowed_roots=[root]).genome is not None
    assert [m.path for m in find_model_dirs([root])] == [d2.resolve()]


def test_symlinked_directory_out_of_root(tree, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tree["evil"], target_is_directory=True)
    assert find_model_dirs([root]) == []
    with pytest.raises(InputError, match="outside the allowed folders"):
        read_model_dir(root / "link", allowed_roots=[root])
    make_model_dir(tmp_path / "beside", weights_from=tree["good"] / "model.weights.h5")
    with pytest.raises(InputError, match="outside the allowed folders"):
        read_model_dir(root / ".." / "beside", allowed_roots=[root])


# ----------------------------------------------------------------------------------- test sets (app)

def _h5_testset(path: Path):
    from seqnn_engine.analysis.datasets import write_plain_hdf5
    write_plain_hdf5(path, np.zeros((1, 128, 4), np.float32), np.zeros((1, 8, 2), np.float32))


def test_testset_finder_refuses_symlinks_out(tree, tmp_path):
    pytest.importorskip("streamlit")
    from app.views.testset import find_datasets
    root = tmp_path / "root"
    root.mkdir()
    _h5_testset(tree["outside"] / "secret_set.h5")
    _h5_testset(root / "own.h5")
    (root / "stolen.h5").symlink_to(tree["outside"] / "secret_set.h5")
    tfr_out = tree["outside"] / "tfr"
    (tfr_out / "tfrecords").mkdir(parents=True, exist_ok=True)
    (tfr_out / "statistics.json").write_text("{}")
    (root / "data").mkdir()
    (root / "data" / "statistics.json").write_text("{}")
    (root / "data" / "tfrecords").symlink_to(tfr_out / "tfrecords", target_is_directory=True)
    (root / "linked_dir").symlink_to(tfr_out, target_is_directory=True)
    found = [Path(p) for _, p in find_datasets((str(root),))]
    assert found == [(root / "own.h5").resolve()], found


# ----------------------------------------------------------------------------------- the app (AppTest)

@pytest.fixture(scope="module")
def app_env(tree, tmp_path_factory):
    pytest.importorskip("streamlit.testing.v1")
    store = tmp_path_factory.mktemp("store")
    cfg = tmp_path_factory.mktemp("cfg") / "config.toml"
    cfg.write_text("")
    _h5_testset(tree["root"] / "inside_set.h5")
    _h5_testset(tree["outside"] / "outside_set.h5")
    (tree["evil"] / "manifest.json").write_text(json.dumps({"name": "EVIL OUTSIDE MODEL"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQNN_MODEL_ROOTS", str(tree["root"]))
        mp.setenv("SEQNN_STORE_DIR", str(store))
        mp.setenv("SEQNN_DASHBOARD_CONFIG", str(cfg))
        yield tree


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "text", "error", "warning", "info", "title", "subheader"):
        parts += [str(e.value) for e in at.get(kind)]
    for sb in at.get("selectbox"):
        parts.append(str(sb.value))
        parts += [str(o) for o in sb.options]
    return "\n".join(parts)


def _in_roots(path: str, tree) -> bool:
    """Inside the configured root or the always-configured bundled assets."""
    p = Path(path).resolve()
    return p.is_relative_to(tree["root"].resolve()) or p.is_relative_to((REPO / "assets").resolve())


@pytest.mark.parametrize("injected", ["evil", "dotdot", "etc"])
def test_app_model_path_outside_roots_is_never_loaded(app_env, injected):
    """A model path outside the roots in the session (what a forged widget value would give) is replaced
    by a model found under the roots; the outside model is never loaded or listed."""
    from streamlit.testing.v1 import AppTest

    import app.state as state
    tree = app_env
    path = {"evil": str(tree["evil"]), "dotdot": str(tree["root"] / ".." / "outside" / "evil"),
            "etc": "/etc"}[injected]
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=180)
    at.session_state["model_path"] = path
    at.session_state["page"] = "Model"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["model_path"] != path
    assert _in_roots(at.session_state["model_path"], tree)
    assert "EVIL OUTSIDE MODEL" not in _texts(at)
    assert not any(Path(p).resolve() == tree["evil"].resolve() for p, *_ in state._LOADED)


def test_app_model_loader_checks_roots(app_env):
    """Defence in depth: the process-wide model loader itself refuses a directory outside the roots."""
    import app.state as state
    with pytest.raises(InputError, match="outside the allowed folders"):
        state.model(str(app_env["evil"]))
    with pytest.raises(InputError, match="outside the allowed folders"):
        state.model(str(app_env["root"] / ".." / "outside" / "evil"))


def test_app_dataset_path_outside_roots_is_never_opened(app_env):
    from streamlit.testing.v1 import AppTest
    tree = app_env
    outside = str(tree["outside"] / "outside_set.h5")
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=180)
    at.session_state["page"] = "Test set"
    at.session_state["dataset"] = outside
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["dataset"] != outside
    assert _in_roots(at.session_state["dataset"], tree)
    assert "outside_set" not in _texts(at)


# ----------------------------------------------------------------------------------- server settings

def test_streamlit_config_localhost_and_xsrf():
    cfg = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    server = cfg["server"]
    assert server.get("address") in ("localhost", "127.0.0.1", "::1"), server.get("address")
    assert server.get("enableXsrfProtection") is True
    assert server.get("enableCORS", True) is True
    assert cfg.get("client", {}).get("showErrorDetails") in ("none", "type", False), "no tracebacks in the browser"
    assert 0 < server.get("maxUploadSize", 200) <= 256
    assert cfg.get("browser", {}).get("gatherUsageStats") is False


def test_readme_command_keeps_localhost_and_xsrf():
    """The README's start command must not override the bind address or XSRF protection."""
    text = (REPO / "README.md").read_text()
    cmds = [line for line in text.splitlines() if "streamlit run" in line]
    assert cmds
    for c in cmds:
        assert "--server.address" not in c or re.search(r"--server\.address[ =](localhost|127\.0\.0\.1)", c), c
        assert "enableXsrfProtection false" not in c and "enableXsrfProtection=false" not in c, c
        assert "enableCORS false" not in c and "enableCORS=false" not in c, c


# ----------------------------------------------------------------------------------- no code from files

class _Payload:
    """Unpickling this runs ``pathlib.Path(marker).write_text('pwned')``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        import pathlib
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "pwned"))


def _lambda_config(marker: Path) -> str:
    """A Keras 2 model_config whose Lambda layer's marshalled function writes ``marker``."""
    import base64
    code = compile(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('pwned'), x)[1]",
                   "<payload>", "eval")
    fn_code = [c for c in code.co_consts if hasattr(c, "co_code")][0]
    dumped = base64.b64encode(marshal.dumps(fn_code)).decode("ascii")
    return json.dumps({"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 128, 4], "name": "x"}},
        {"class_name": "Lambda", "config": {"name": "evil", "function": [dumped, None, None],
                                            "function_type": "lambda", "output_shape": None}}]}})


def _poison(path: Path, marker: Path):
    """Add a Lambda model_config, a training_config and pickle payloads to an HDF5 weights file."""
    blob = pickle.dumps(_Payload(str(marker)))
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = _lambda_config(marker)
        f.attrs["training_config"] = json.dumps({"loss": {"class_name": "Lambda"}})
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["pickled"] = np.void(blob)
        f.create_dataset("pickled_payload", data=np.frombuffer(blob, np.uint8))
        f.create_dataset("object_payload", data=np.void(blob))


def test_payloads_are_real(tmp_path):
    """The payloads used below do run code when deserialized the unsafe way (so their absence means
    something)."""
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    pickle.loads(pickle.dumps(_Payload(str(m1))))
    assert m1.read_text() == "pwned"
    cfg = json.loads(_lambda_config(m2))
    import base64
    import types
    code = marshal.loads(base64.b64decode(cfg["config"]["layers"][1]["config"]["function"][0]))
    types.FunctionType(code, {"__builtins__": __builtins__})(1)
    assert m2.read_text() == "pwned"


@pytest.mark.parametrize("legacy", [False, True])
def test_weights_never_execute_code(tmp_path, monkeypatch, legacy):
    """A weights file with a malicious Lambda model_config and pickle payloads loads by weights only:
    nothing is executed, model_config/training_config are never read, pickle and marshal are never used,
    and the predictions are those of the clean file."""
    from seqnn_engine import load_model
    d = tmp_path / "m"
    d.mkdir()
    (d / "params.json").write_text(json.dumps(TINY))
    clean = d / "clean.h5"
    _weights(clean, legacy=legacy)
    bad = d / "model.h5"
    shutil.copy(clean, bad)
    marker = tmp_path / "PWNED"
    _poison(bad, marker)

    read_attrs = []
    orig_getitem = h5py.AttributeManager.__getitem__

    def spy(self, name):
        read_attrs.append(name)
        return orig_getitem(self, name)

    def forbidden(*a, **k):
        raise AssertionError("deserialization of code was attempted")

    monkeypatch.setattr(h5py.AttributeManager, "__getitem__", spy)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(marshal, "loads", forbidden)
    m = load_model(d / "params.json", bad)
    monkeypatch.undo()
    assert not marker.exists()
    assert not {"model_config", "training_config", "pickled"} & set(read_attrs), read_attrs
    ref = load_model(d / "params.json", clean)
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (1, 128))]
    np.testing.assert_array_equal(m.predict(x).mean, ref.predict(x).mean)
    assert not marker.exists()


def test_store_entry_with_pickle_is_a_miss(tmp_path):
    """A store entry holding a pickled object array is treated as corrupt (allow_pickle=False): nothing
    runs, the entry is removed, the caller recomputes."""
    from seqnn_engine.batch.store import ResultStore, result_key
    store = ResultStore(tmp_path / "store", max_bytes=1 << 20)
    key = result_key("m" * 16, "s" * 64, {"op": "x"})
    store.put(key, {"a": np.arange(3)}, {"ok": 1})
    path = store.path_for(key)
    marker = tmp_path / "PWNED"
    buf = io.BytesIO()
    obj = np.empty(1, dtype=object)
    obj[0] = _Payload(str(marker))
    np.savez(buf, a=obj, __meta__=np.frombuffer(b"{}", np.uint8))
    path.write_bytes(buf.getvalue())
    assert store.get(key) is None
    assert not marker.exists() and not path.exists()


def test_no_unsafe_deserialization_in_sources():
    """No engine or app source enables pickle, evaluates strings or lets Keras rebuild a saved model."""
    bad = re.compile(r"allow_pickle\s*=\s*True|pickle\.loads?\(|marshal\.loads?\(|\beval\(|\bexec\(|"
                     r"safe_mode\s*=\s*False|model_from_json|models\.load_model|from_config\(|"
                     r"enable_unsafe_deserialization|yaml\.load\(")
    hits = []
    for sub in ("seqnn_engine", "app"):
        for p in (REPO / sub).rglob("*.py"):
            for i, line in enumerate(p.read_text().splitlines(), 1):
                if bad.search(line):
                    hits.append(f"{p.relative_to(REPO)}:{i}: {line.strip()}")
    assert not hits, hits


def test_uploads_never_become_paths():
    """The dashboard reads uploads from memory (bytes), never by a name the browser chose."""
    src = (REPO / "app" / "inputs.py").read_text()
    assert "getvalue()" in src
    assert not re.search(r"open\([^)]*\.name", src) and "Path(up.name" not in src
