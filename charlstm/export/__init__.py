"""Export: a trained model in other forms: a slim checkpoint (`slim`), one ONNX file (`onnxfile`) and a
folder whose web page samples in the browser (`webpage`).

May import the layers below (store, data, sampling, insight ...); never playground or cli.
"""
