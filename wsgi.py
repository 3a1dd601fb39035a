from doseapp import create_app

app = create_app()
