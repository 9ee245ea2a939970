"""Parts of the Backprop page: the sidebar, network mode (stepper, buttons, live drawing), its inspector and the
views under the drawing, and graph mode. The maths lives in ``lightning_module.backprop``; these only draw."""
