"""The shared core: what every tsapi process needs above the data layer.

Settings (:mod:`core.settings`, :mod:`core.shared_config`), the field types that requests and
job parameters share (:mod:`core.fields`) and the version (:mod:`core.version`). It imports
only :mod:`tsdb`; ``workers``, ``api`` and the ``tsapi`` command line build on it.
"""
