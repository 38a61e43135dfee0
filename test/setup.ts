// Silences TF.js's "install tfjs-node" banner in test output.
import * as tf from '@tensorflow/tfjs';
tf.env().set('IS_TEST', true);
