"""tbwal.keras -- keras.callbacks.TensorBoard on a tbwal journal (Keras 3, TensorFlow 2).

    import tbwal.keras
    model.fit(x, y, callbacks=[tbwal.keras.TensorBoard("logs", update_freq="batch")])

TensorBoard is keras.callbacks.TensorBoard with the same arguments and the
same event layout (log_dir/train, log_dir/validation; batch_* and epoch_*
tags), plus tbwal's keyword options (sync_dir, durability, compact_interval,
...; they default to those of tbwal.patch()). Its writers are
tbwal.tf.create_file_writer() writers, so every summary Keras writes goes
through tbwal.tf: scalars are committed when the batch ends and exported
within compact_interval (1 s): update_freq="batch" shows every batch in
TensorBoard within a second, and a killed process loses none of them.
"""

import keras
import tensorflow as tf

from . import tf as _tbwal_tf

__all__ = ["TensorBoard"]


class _Summary:
    """tf.summary with create_file_writer made tbwal's."""

    def __init__(self, options):
        self._options = options

    def create_file_writer(self, logdir, **kwargs):
        kwargs.update(self._options)
        return _tbwal_tf.create_file_writer(logdir, **kwargs)

    def __getattr__(self, name):
        return getattr(tf.summary, name)


class TensorBoard(keras.callbacks.TensorBoard):
    """keras.callbacks.TensorBoard, journal-backed.

    Arguments: keras.callbacks.TensorBoard's (log_dir, histogram_freq,
    write_graph, write_images, write_steps_per_second, update_freq,
    profile_batch, embeddings_freq, embeddings_metadata), then tbwal's
    keyword options for its writers (sync_dir, durability, durability_interval,
    sync_interval, compact_interval, scalar_format).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None, **tbwal_options):
        super().__init__(log_dir=log_dir, histogram_freq=histogram_freq, write_graph=write_graph,
                         write_images=write_images, write_steps_per_second=write_steps_per_second,
                         update_freq=update_freq, profile_batch=profile_batch,
                         embeddings_freq=embeddings_freq, embeddings_metadata=embeddings_metadata)
        self._tbwal_options = dict(tbwal_options)
        self._summary_module = _Summary(self._tbwal_options)
