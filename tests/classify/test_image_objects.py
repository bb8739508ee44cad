"""Object classification: objects of a label image sorted from crops + measurements."""

import numpy as np
import pytest

from napari_sciseg.classify.images.objects import (
    PROPERTIES,
    classify_objects,
    object_properties,
    train_object_classifier,
)
from napari_sciseg.data.cnt import particle_objects


def test_single_aggregate_contaminant_on_a_new_field():
    train = [particle_objects((256, 256), n=30, seed=s) for s in range(3)]
    model = train_object_classifier([t[0] for t in train], [t[1] for t in train],
                                    [t[2] for t in train], spacings=[2.0] * 3,
                                    n_estimators=40)
    assert model.class_names == ("aggregate", "contaminant", "single")
    image, labels, truth = particle_objects((256, 256), n=30, seed=11)
    result = classify_objects(model, image, labels, spacing=2.0)
    right = np.mean([result.classes[i] == truth[i] for i in truth])
    assert right >= 0.9
    painted = result.class_image(labels)
    assert set(np.unique(painted)) <= {0, 1, 2, 3} and (painted > 0).sum() == (labels > 0).sum()


def test_properties_in_nm():
    labels = np.zeros((20, 20), int)
    labels[2:6, 2:6] = 1
    ids, props = object_properties(labels, np.ones((20, 20)), spacing=2.0)
    assert ids.tolist() == [1] and props.shape == (1, len(PROPERTIES))
    assert props[0, PROPERTIES.index("area")] == pytest.approx(16 * 4.0)


def test_one_class_is_refused():
    image, labels, classes = particle_objects((96, 96), n=4, seed=0)
    with pytest.raises(ValueError, match="at least two classes"):
        train_object_classifier([image], [labels], [{k: "single" for k in classes}])
