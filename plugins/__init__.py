"""ganforge's in-tree plugins, each registered through the ``ganforge`` entry-point group."""
