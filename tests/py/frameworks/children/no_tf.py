"""no_tf.py -- import first in a torch child to keep TensorFlow out of it.

TensorBoard imports TensorFlow lazily when it is installed, and
torch.utils.tensorboard touches it (for tf.io.gfile), which costs 10-30 s on
a loaded 2-core machine and is not what the torch tests are about.
TensorBoard's own switch: when a module tensorboard.compat.notf exists it
uses its TensorFlow stub instead. The Keras/tf.summary test uses real TF."""
import sys
import types

sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
