"""Training a recipe: the trainer (one optimisation step: ``Trainer._optimisation_step``), phases,
resuming, EMA, metrics logging and loss plots, and the helpers for several processes."""
