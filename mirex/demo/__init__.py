"""The out-of-the-box demo: a deterministic synthesiser and ``make demo``.

:mod:`mirex.demo.synth` renders labelled synthetic music (GENRES,
synthesize_clip, make_task); :mod:`mirex.demo.run` generates a task with it and
runs the MIREX dry run on it (run_demo, DEFAULT_DEMO_DIR). Nothing is imported
here, so that the synthesiser can be used without the harness behind the demo.
"""
