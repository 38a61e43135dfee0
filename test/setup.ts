// Silences TF.js's "install tfjs-node" banner in test output. (Not IS_TEST: that
// turns on a kernel leak check which flags custom gradients that save
// intermediates — as our batch norm does on purpose — though nothing leaks; the
// tests assert tf.memory().numTensors themselves.)
import * as tf from '@tensorflow/tfjs';
tf.env().set('PROD', true);
