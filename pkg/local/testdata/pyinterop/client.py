"""A Flame client on Python's grpcio, as flamepy is: it registers the
Python service (service.py) as an application, runs tasks on it through
the Frontend service at FLAME_ENDPOINT, and checks what comes back.
Exits non-zero, saying why, on any mismatch.
"""
import os
import sys

sys.path.insert(0, os.environ["PYINTEROP_GEN"])

import grpc  # noqa: E402
from flame.v1 import frontend_pb2, types_pb2  # noqa: E402

CALL_TIMEOUT = 60  # seconds, for every call (a watch includes starting the instance)


def main():
    endpoint = os.environ["FLAME_ENDPOINT"].removeprefix("http://")
    ch = grpc.insecure_channel(endpoint)

    def unary(name, req_type, resp_type):
        call = ch.unary_unary("/flame.v1.Frontend/" + name,
                              request_serializer=req_type.SerializeToString,
                              response_deserializer=resp_type.FromString)
        return lambda req: call(req, timeout=CALL_TIMEOUT)

    register = unary("RegisterApplication", frontend_pb2.RegisterApplicationRequest, types_pb2.Result)
    create_session = unary("CreateSession", frontend_pb2.CreateSessionRequest, types_pb2.Session)
    create_task = unary("CreateTask", frontend_pb2.CreateTaskRequest, types_pb2.Task)
    get_task = unary("GetTask", frontend_pb2.GetTaskRequest, types_pb2.Task)
    close_session = unary("CloseSession", frontend_pb2.CloseSessionRequest, types_pb2.Session)
    watch_task = ch.unary_stream("/flame.v1.Frontend/WatchTask",
                                 request_serializer=frontend_pb2.WatchTaskRequest.SerializeToString,
                                 response_deserializer=types_pb2.Task.FromString)

    spec = types_pb2.ApplicationSpec(
        command=sys.executable,
        arguments=[os.path.join(os.path.dirname(os.path.abspath(__file__)), "service.py")],
        environments=[types_pb2.Environment(name="PYINTEROP_GEN", value=os.environ["PYINTEROP_GEN"])],
    )
    res = register(frontend_pb2.RegisterApplicationRequest(name="pyecho", application=spec))
    if res.return_code != 0:
        sys.exit("register: %s" % res.message)
    ssn = create_session(frontend_pb2.CreateSessionRequest(
        session_id="py-ssn-1", session=types_pb2.SessionSpec(application="pyecho")))
    sid = ssn.metadata.id
    for i in range(3):
        inp = ("hello %d" % i).encode()
        task = create_task(frontend_pb2.CreateTaskRequest(task=types_pb2.TaskSpec(session_id=sid, input=inp)))
        if task.status.state != types_pb2.Pending:
            sys.exit("CreateTask without wait metadata answered state %d, want Pending" % task.status.state)
        last = None
        for t in watch_task(frontend_pb2.WatchTaskRequest(session_id=sid, task_id=task.metadata.id),
                            timeout=CALL_TIMEOUT):
            last = t
        if last is None or last.status.state != types_pb2.Succeed:
            sys.exit("watch of task %s ended with %s" % (task.metadata.id, last))
        want = b"py:" + inp
        if last.spec.output != want:
            sys.exit("task %s output %r, want %r" % (task.metadata.id, last.spec.output, want))
        got = get_task(frontend_pb2.GetTaskRequest(session_id=sid, task_id=task.metadata.id))
        if got.spec.output != want or len(got.status.events) == 0:
            sys.exit("GetTask %s = %s" % (task.metadata.id, got))
    try:
        get_task(frontend_pb2.GetTaskRequest(session_id=sid, task_id="99"))
        sys.exit("GetTask of an unknown task succeeded")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:
            sys.exit("GetTask of an unknown task: %s, want NOT_FOUND" % e.code())
    close_session(frontend_pb2.CloseSessionRequest(session_id=sid))
    print("ok %s" % sid)


if __name__ == "__main__":
    main()
