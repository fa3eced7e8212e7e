"""``relabel serve``: a Label Studio model backend and webhook receiver for one project.

At the loop's level: it reads the latest run and records answers through the loop's pull
(:func:`relabel.loop.pull.apply_reviews`) and runs cycles (:mod:`relabel.loop.cycle`).

- :mod:`relabel.serve.app`: the HTTP server and its routes (``/health``, ``/setup``,
  ``/predict``, ``/webhook``), :func:`~relabel.serve.app.start_backend`;
- :mod:`relabel.serve.predict`: the latest run's probabilities as predictions;
- :mod:`relabel.serve.inbox`: webhooks appended durably to the store's inbox, answered at once;
- :mod:`relabel.serve.record`: the inbox's answers recorded exactly as a pull would, once;
- :mod:`relabel.serve.worker`: records the inbox in batches under the project lock, runs
  cycles, in one background thread;
- :mod:`relabel.serve.connect`: connect the backend and its webhook to Label Studio.
"""
