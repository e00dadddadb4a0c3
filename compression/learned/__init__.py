"""The learned codec `mscae`: a multi-stage convolutional autoencoder with a mean-scale
hyperprior and a checkerboard context, per-level quantisation gains (one model, many rates) and
a range-coded bitstream that decodes the same on any machine.

Seams, as in CompressAI: `layers` (GDN), `entropy_models` (factorised prior, Gaussian
likelihood, grouped range coding), `integer` and `tables` (the exact integer probability model
and the coding tables stored with the weights), `models` (the transforms and the RD loss),
`zoo` (name -> config), `bitstream` (the .msc container), `data` and `training`, and `codec`
(the registry adapter used by the portal). TensorFlow/Keras are imported only when a module
here is used, so the portal starts without them.
"""
