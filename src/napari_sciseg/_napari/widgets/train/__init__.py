"""The "Train & predict" dock widget (annotate -> train -> inspect), split into panels.

``TrainPredictWidget`` composes the panels of this package; each file holds one panel.
"""

from ._widget import TrainPredictWidget

__all__ = ["TrainPredictWidget"]
