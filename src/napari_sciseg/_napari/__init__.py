"""The napari front end: reader, writers, sample data and widgets.

This is the only subpackage that imports napari, qtpy, magicgui or superqt.
"""
