"""Layer 4, studies of the method itself: the Neumann-versus-exact hypergradient comparison."""
