"""The photographs a recipe names: sources, mixtures, training pairs, evaluation crops, gray degradation."""
