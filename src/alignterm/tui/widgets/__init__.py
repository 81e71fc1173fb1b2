"""The app's widgets, one module per thing shown."""
