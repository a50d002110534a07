"""The Spark runtime, driver side: what the sandboxed model process runs when its runtime's
kind is "spark" (the driver of a Spark application in client mode), and the code its Python
workers run on the executors. No Django here: this package runs next to untrusted code.

    contract.py   which model contract a source follows; what a Spark runtime refuses
    session.py    the job's SparkSession: master, configuration, secrets, app name
    executor.py   the pandas contract on the executors (mapInPandas)
    outputs.py    part files → the one staged output file the supervisor commits
    progress.py   stages, tasks and rows, as events for the job page
    driver.py     one job, start to end
"""
