"""What every layer stands on, and what plugin authors import.

- the contracts components implement (:mod:`~ganforge.core.components`), the hooks a plugin can
  implement (:mod:`~ganforge.core.hookspecs`), the registries and the plugin manager that fills them
  (:mod:`~ganforge.core.registry`, :mod:`~ganforge.core.plugins`);
- recipes (:mod:`~ganforge.core.config`), the type checks they share with component options
  (:mod:`~ganforge.core.schema`), and turning a recipe's component references into checked objects
  (:mod:`~ganforge.core.build`);
- errors, the command line's choices and argument types, color math, image files and atomic writes.

Nothing here imports from the layers above (data, inference, training, video, evaluation).
"""
