"""Pure HTML, SVG and text views shared by the notebook, the engine and the CLI.

Nothing here reads an engine, a store or a clock, and nothing imports IPython or
ipywidgets: every function turns a snapshot (plain data) into a string. The notebook
layer renders these strings in widgets and mime bundles, :meth:`godnb.Engine.report`
writes them to a file, and ``godnb report`` builds the same page from a store.

The package sits just below :mod:`godnb.core` in the import layers (above the pipeline
machinery, the backends, the models and utils), so the engine can write a report
without the notebook layer and the CLI can draw a timeline without IPython.

* :mod:`godnb.views.palette`: status colours (Lab's theme variables with accessible
  fallbacks) and the task palette of the timeline;
* :mod:`godnb.views.bars`: the HTML pieces of a progress bar (solid, stacked,
  indeterminate), a fixed-width name column, an error that keeps to one line;
* :mod:`godnb.views.timeline`: the task stream: :class:`TimelineData` and its SVG,
  HTML and text renderings, bounded at any number of runs;
* :mod:`godnb.views.report`: a self-contained HTML page for sharing a run.
"""
