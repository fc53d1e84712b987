"""Pre-training of SampleCNN backbones: one trainer, two doors (mirex pretrain, mirex distil).

Modules, in the order a run uses them:

- :mod:`.options`     every option of a run (:class:`~.options.Options`), the distil defaults
- :mod:`.api`         :func:`~.api.train` and its doors :func:`~.api.pretrain`, :func:`~.api.distil`
- :mod:`.commands`    the doors' command-line options (click)
- :mod:`.runs`        the frozen run: lists -> clips, labels, validation split (``run.json``)
- :mod:`.audiocache`  content keys and the decoded-audio cache (float16 ``.npy``)
- :mod:`.teacher`     the musicnn / VGG teachers on 3-s windows, each cached per file
- :mod:`.targets`     label lists; target *units* (clips, or THE teacher windows);
                      how several teachers' rows combine
- :mod:`.augment`     waveform augmentation of training crops (gain, EQ, mix, pitch, shift)
- :mod:`.plans`       which crops an epoch / the validation reads
- :mod:`.sources`     where crops come from: streamed from the cache, or held in memory;
                      the training batch (crops, targets, augmentation)
- :mod:`.schedule`    learning-rate stages: on a plateau (the paper) or over a time budget
- :mod:`.student`     the SampleCNN student and its losses
- :mod:`.trainer`     the loop: ``model.fit`` one epoch at a time, validation, stages
- :mod:`.checkpoints` THE checkpoint format (exact resume), ``log.csv``
- :mod:`.metrics`     validation agreement
- :mod:`.output`      the backbone folder and its provenance, ``summary.json``
- :mod:`.strategies`  ``tf.distribute`` by name; :mod:`.bench` training throughput
- :mod:`.students`    the shipped students' recipe: both distilled in one run
                      (``tools/train_students.py``, ``make students``)
"""
