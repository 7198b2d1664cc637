"""The simulated Xen toolstack: xenstore and its tools, and `xl` (assignable devices, domains).

`xenstore` holds the store; `context.XlContext` is what an `xl` verb works on; `assignable` and
`domains` are the verbs; `xl.Xl` is the verb table `SimHost.run` calls.
"""
