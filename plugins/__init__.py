"""Built-in partner plugins, registered through the `coalition` entry points like any other."""
