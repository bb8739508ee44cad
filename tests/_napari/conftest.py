"""Fixtures for the napari front-end tests."""

import pytest


@pytest.fixture
def notes():
    from napari.utils.notifications import notification_manager

    seen = []
    notification_manager.notification_ready.connect(seen.append)
    yield seen
    notification_manager.notification_ready.disconnect(seen.append)
