"""sklearn-ddchm: Distributed Distributional Code Helmholtz Machines for scikit-learn."""

__version__ = "0.1.0.dev0"
