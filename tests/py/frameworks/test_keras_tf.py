"""test_keras_tf.py -- Keras 3 (tbwal.keras.TensorBoard) and tf.summary
(tbwal.tf.create_file_writer) on tbwal, in one TensorFlow child process that
is SIGKILLed mid-fit; plus, in this process, what tbwal.tf leaves alone and
what it cannot do (proved here, documented in tbwal/tf.py)."""
import os

import pytest

import fwutil


def test_keras_fit_and_tf_summary_are_fresh_and_survive_sigkill(tmp_path):
    child = fwutil.Child("keras_child.py", tmp_path)
    try:
        child.wait_for(lambda c: c.count("keras/train", "batch_loss") >= 15, 240, "15 Keras batches")
        step, t = child.last("keras/train", "batch_loss")
        lag = fwutil.wait_fresh(tmp_path / "keras" / "train", "batch_loss", step, t)
        step2, t2 = child.last("tfsummary", "fn_loss")
        lag2 = fwutil.wait_fresh(tmp_path / "tfsummary", "fn_loss", step2, t2)
        child.wait_for(lambda c: c.count("keras/train", "epoch_loss") >= 2, 240, "2 Keras epochs")
    finally:
        fwutil.stop(child)
    acked = child.acked()
    runs = fwutil.runs_under(tmp_path)
    assert sorted(os.path.relpath(r, tmp_path) for r in runs) == ["keras/train", "tfsummary"]
    total = 0
    for run in runs:
        fwutil.recover(run)
        total += fwutil.check_exactly_once(run, acked[os.path.relpath(run, tmp_path)])
    assert set(acked["tfsummary"]) == {"eager_loss", "fn_loss"}
    tags, _ = fwutil.plugin_tags(tmp_path / "keras" / "train")
    assert ("graph_keras_model", "keras") in tags              # write_graph=True's model summary
    assert any(p == "histograms" for p, _ in tags), tags       # histogram_freq=1
    print("keras+tf.summary: %d acknowledged scalars found once; fresh after %.2f s (Keras batch) "
          "and %.2f s (tf.function)" % (total, lag, lag2))


@pytest.fixture(scope="module")
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow
    import tbwal.tf  # noqa: F401  (installs the routing)
    return tensorflow


def test_tf_own_writer_is_untouched_beside_a_tbwal_one(tf, tmp_path):
    import tbwal.tf
    ours = tbwal.tf.create_file_writer(tmp_path / "ours")
    theirs = tf.summary.create_file_writer(str(tmp_path / "theirs"))
    with theirs.as_default():
        tf.summary.scalar("x", 1.5, step=3)
        with ours.as_default():
            tf.summary.scalar("y", 2.5, step=4)
        tf.summary.scalar("x", 3.5, step=5)
    theirs.flush()
    ours.flush()
    assert fwutil.event_records(tmp_path / "ours") == [("y", 4, 2.5)]
    assert [(t, s, v) for t, s, v in fwutil.event_records(tmp_path / "theirs")] == [("x", 3, 1.5), ("x", 5, 3.5)]
    assert not any(".tbwal" in p for p in os.listdir(tmp_path / "theirs"))
    ours.close()


def test_tf_summary_record_if_and_default_step_are_honoured(tf, tmp_path):
    import tbwal.tf
    w = tbwal.tf.create_file_writer(tmp_path)
    with w.as_default(step=7):
        assert bool(tf.summary.scalar("a", 1.0))
        with tf.summary.record_if(False):
            assert not bool(tf.summary.scalar("a", 2.0, step=8))
    assert not bool(tf.summary.scalar("a", 3.0, step=9))  # no default writer
    with w.as_default():
        with pytest.raises(ValueError, match="No step set"):
            tf.summary.scalar("a", 4.0)
    tf.summary.flush(w)
    assert fwutil.event_records(tmp_path) == [("a", 7, 1.0)]
    w.close()


def test_tf_function_summaries_with_a_variable_step(tf, tmp_path):
    import tbwal.tf
    w = tbwal.tf.create_file_writer(tmp_path)
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def train(x):
        with w.as_default(step=step):
            for i in tf.range(3):
                tf.summary.scalar("inner", x + tf.cast(i, tf.float32), step=step * 10 + tf.cast(i, tf.int64))
            tf.summary.scalar("loss", x)
        step.assign_add(1)

    for k in range(4):
        train(tf.constant(float(k)))
    w.flush()
    got = fwutil.event_records(tmp_path)
    assert [(s, v) for t, s, v in got if t == "loss"] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]
    # inside the autograph loop the tag is name-scoped "while/", as TF's own writer names it
    assert [s for t, s, v in got if t == "while/inner"] == [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]
    w.close()


def test_limit_xla_cannot_compile_a_tbwal_summary(tf, tmp_path):
    """Documented limit: under jit_compile=True the tbwal write is a py_function, which XLA
    cannot compile. The error is TF's, raised at the call; nothing half-written."""
    import tbwal.tf
    w = tbwal.tf.create_file_writer(tmp_path)

    @tf.function(jit_compile=True)
    def f(x):
        with w.as_default():
            tf.summary.scalar("x", x, step=1)
        return x + 1

    with pytest.raises(Exception, match="EagerPyFunc|PyFunc|py_function|compil"):
        f(tf.constant(1.0))
    w.flush()
    assert fwutil.event_records(tmp_path) == []
    w.close()


def test_limit_a_saved_model_with_a_tbwal_summary_runs_only_here(tf, tmp_path):
    """Documented limit: a SavedModel cannot carry the Python function behind a tbwal
    summary. TF saves it (with a warning), and calling the loaded function in another
    process fails loudly: the py_function's callback is not in that process."""
    import subprocess
    import sys
    import tbwal.tf
    w = tbwal.tf.create_file_writer(tmp_path / "logs")

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
        def step(self, x):
            with w.as_default():
                tf.summary.scalar("x", x, step=1)
            return x * 2

    m = M()
    assert float(m.step(tf.constant(2.0))) == 4.0
    w.flush()
    assert fwutil.event_records(tmp_path / "logs") == [("x", 1, 2.0)]
    tf.saved_model.save(m, str(tmp_path / "saved"))
    r = subprocess.run([sys.executable, "-c", "import sys, tensorflow as tf; "
                        "print(tf.saved_model.load(sys.argv[1]).step(tf.constant(3.0)))",
                        str(tmp_path / "saved")], env=fwutil.child_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    assert r.returncode != 0
    assert b"Could not find callback" in r.stdout, r.stdout[-2000:]
    w.close()


def test_tf_summary_histogram_image_text_and_graph_reach_the_event_files(tf, tmp_path):
    """The non-scalar kinds go through the writer's variable-size record, eagerly and in a
    tf.function, with TF's plugin metadata, and read back as TensorBoard reads them."""
    import numpy as np
    import tbwal.tf
    from tensorboard.backend.event_processing import event_accumulator as ea
    w = tbwal.tf.create_file_writer(tmp_path)

    @tf.function
    def f(step):
        with w.as_default():
            tf.summary.histogram("fn_hist", tf.range(10.0), step=step)
        return step

    with w.as_default():
        tf.summary.histogram("hist", np.arange(5.0), step=1)
        tf.summary.image("img", np.zeros((1, 4, 4, 3), dtype=np.float32), step=2)
        tf.summary.text("note", "hello tbwal", step=3)
        tf.summary.graph(f.get_concrete_function(tf.TensorSpec([], tf.int64)).graph)
    f(tf.constant(4, tf.int64))
    w.flush()
    acc = ea.EventAccumulator(str(tmp_path), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    assert set(tags["tensors"]) >= {"hist", "img", "note", "fn_hist"}, tags
    assert tags["graph"] is True
    assert [e.step for e in acc.Tensors("fn_hist")] == [4]
    plugins = {t: acc.SummaryMetadata(t).plugin_data.plugin_name for t in ("hist", "img", "note")}
    assert plugins == {"hist": "histograms", "img": "images", "note": "text"}
    w.close()
