"""Our compiled KFP v2 IR against the official KFP packages, driven by the Rust test suite
(vertex_pipelines/tests/ir_kfp.rs).

Usage:
  kfp_ir.py check IR_DIR
      Strict parse of every *.json in IR_DIR with kfp-pipeline-spec's protos: the document as
      `PipelineSpec`, and its `deploymentSpec` (a free-form Struct inside PipelineSpec) as
      `PipelineDeploymentConfig`, both with ignore_unknown_fields=False. Any unknown field, wrong
      type or bad enum fails with the field path. Also rejects duplicate JSON keys and NaN.
  kfp_ir.py golden IR_FILE [--keep DIR]
      Build the same pipeline with the kfp SDK (components generated from IR_FILE's own
      input/output definitions, wiring written out below as a Python user would), compile it
      with kfp.compiler.Compiler, and compare the two documents field by field after the
      allowed differences listed in ALLOWED below. Prints a diff and exits 1 on any other
      difference. --keep DIR keeps kfp's output there (kfp_training.yaml).
  kfp_ir.py kfp-compile IR_FILE OUT_FILE
      Only compile the kfp equivalent of IR_FILE to OUT_FILE (for timing the SDK).
  kfp_ir.py bench IR_FILE [N]
      Medians of N (default 10) in-process kfp compiles: generating the components, the
      @dsl.pipeline decoration (where kfp builds the PipelineSpec) and Compiler().compile.
"""

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from kfp import compiler, dsl
from kfp.pipeline_spec import pipeline_spec_pb2

PipelineSpec = pipeline_spec_pb2.PipelineSpec
DeploymentConfig = pipeline_spec_pb2.PipelineDeploymentConfig


class Failure(Exception):
    """A check failed; the message says what and where."""


# --------------------------------------------------------------------------------------------
# Strict parse


def load_json(path):
    """JSON as a PipelineSpec reader would see it, refusing duplicate keys and NaN/Infinity
    (both are accepted by Python's json module but not by proto JSON parsers)."""

    def no_duplicates(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise Failure(f"{path}: duplicate JSON key `{key}`")
            seen[key] = value
        return seen

    def no_constant(name):
        raise Failure(f"{path}: non-JSON number `{name}`")

    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=no_duplicates, parse_constant=no_constant)


def is_repeated(field):
    """`FieldDescriptor.label` is deprecated in protobuf 6 in favour of `is_repeated`."""
    if hasattr(type(field), "is_repeated"):
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


def _parse_error(descriptor, obj):
    message = message_factory.GetMessageClass(descriptor)()
    try:
        json_format.ParseDict(obj, message, ignore_unknown_fields=False)
        return None
    except json_format.ParseError as e:
        return str(e)


def locate(descriptor, value, path):
    """Narrow a parse failure of `value` (for message type `descriptor`) down to the path of the
    offending field: protobuf's own message names the path for unknown fields and some type
    errors, not for all (e.g. a number where a string is expected)."""
    if not isinstance(value, dict) or descriptor.full_name.startswith("google.protobuf."):
        return path
    fields = {f.name: f for f in descriptor.fields}
    fields.update({f.json_name: f for f in descriptor.fields})
    for key, sub in value.items():
        if _parse_error(descriptor, {key: sub}) is None:
            continue
        field = fields.get(key)
        if field is None:
            return f"{path}.{key}"
        here = f"{path}.{field.json_name}"
        sub_type = field.message_type
        if sub_type is None:
            return here
        if sub_type.GetOptions().map_entry:
            value_type = sub_type.fields_by_name["value"].message_type
            for k, v in sub.items() if isinstance(sub, dict) else []:
                if _parse_error(descriptor, {key: {k: v}}) is not None:
                    return locate(value_type, v, f"{here}[{k}]") if value_type else f"{here}[{k}]"
            return here
        if is_repeated(field):
            for i, v in enumerate(sub if isinstance(sub, list) else []):
                if _parse_error(descriptor, {key: [v]}) is not None:
                    return locate(sub_type, v, f"{here}[{i}]")
            return here
        return locate(sub_type, sub, here)
    # Each field parses alone but not together (e.g. two members of one oneof).
    return path


def strict_parse(obj, message_cls, what):
    """Parse `obj` as `message_cls`, strictly; raise Failure naming the field path."""
    message = message_cls()
    try:
        json_format.ParseDict(obj, message, ignore_unknown_fields=False)
    except json_format.ParseError as e:
        name = message_cls.DESCRIPTOR.name
        path = locate(message_cls.DESCRIPTOR, obj, name)
        raise Failure(f"{what}: not a valid {name}\n  field: {path}\n  protobuf: {e}") from None
    return message


def deprecated_fields(message, path):
    """Paths of set fields that the proto marks deprecated (a warning, not a failure: kfp
    itself still writes some of them, e.g. ResourceSpec.cpuLimit, for older backends)."""
    found = []
    for field, value in message.ListFields():
        here = f"{path}.{field.json_name}"
        if field.GetOptions().deprecated:
            found.append(here)
        if field.message_type is None or field.message_type.full_name.startswith(
            "google.protobuf."
        ):
            continue
        if field.message_type.GetOptions().map_entry:
            for k, v in value.items():
                if hasattr(v, "ListFields"):
                    found += deprecated_fields(v, f"{here}[{k}]")
        elif is_repeated(field):
            for i, v in enumerate(value):
                found += deprecated_fields(v, f"{here}[{i}]")
        else:
            found += deprecated_fields(value, here)
    return found


def load_yaml(path):
    """kfp's compiler output (YAML is its format; JSON output is deprecated)."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def check_document(path, doc=None):
    doc = load_json(path) if doc is None else doc
    if not isinstance(doc, dict):
        raise Failure(f"{path}: not a JSON object")
    spec = strict_parse(doc, PipelineSpec, f"{path}")
    if "deploymentSpec" not in doc:
        raise Failure(f"{path}: deploymentSpec is missing")
    deployment = strict_parse(doc["deploymentSpec"], DeploymentConfig, f"{path}: deploymentSpec")
    if spec.schema_version != "2.1.0":
        raise Failure(f"{path}: schemaVersion is `{spec.schema_version}`, expected `2.1.0`")
    warnings = deprecated_fields(spec, "PipelineSpec") + deprecated_fields(
        deployment, "PipelineDeploymentConfig"
    )
    return spec, deployment, warnings


def cmd_check(ir_dir):
    files = sorted(Path(ir_dir).glob("*.json"))
    if not files:
        raise Failure(f"no *.json in {ir_dir}")
    for f in files:
        spec, deployment, warnings = check_document(f)
        print(
            f"ok   {f.name}: PipelineSpec `{spec.pipeline_info.name}` "
            f"({len(spec.components)} components, {len(spec.root.dag.tasks)} root tasks), "
            f"PipelineDeploymentConfig ({len(deployment.executors)} executors)"
        )
        for w in warnings:
            print(f"note {f.name}: deprecated proto field set: {w}")


# --------------------------------------------------------------------------------------------
# The kfp equivalent of our pipeline

PY_TYPES = {
    "STRING": "str",
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "BOOLEAN": "bool",
    "STRUCT": "dict",
    "LIST": "list",
}
# schemaTitle -> kfp artifact class, from kfp's own classes (their schema_title).
ARTIFACT_CLASSES = {
    cls.schema_title: cls
    for cls in (
        dsl.Artifact,
        dsl.Dataset,
        dsl.Model,
        dsl.Metrics,
        dsl.ClassificationMetrics,
        dsl.SlicedClassificationMetrics,
        dsl.HTML,
        dsl.Markdown,
    )
}


def py_type(definition, where):
    """The Python annotation kfp turns into this parameterType."""
    ty = definition.get("parameterType")
    if ty not in PY_TYPES:
        raise Failure(f"{where}: parameterType `{ty}` has no kfp Python type")
    return PY_TYPES[ty]


def artifact_class(definition, where):
    """The kfp artifact class with this schemaTitle (kfp writes its own schemaVersion)."""
    title = definition.get("artifactType", {}).get("schemaTitle")
    if title not in ARTIFACT_CLASSES:
        raise Failure(f"{where}: artifact schemaTitle `{title}` is not a kfp artifact type")
    return ARTIFACT_CLASSES[title].__name__


def executor_tasks(ours):
    """(task key, component key, component) for every container task, in any DAG."""
    components = ours["components"]
    found = []

    def walk(component):
        for task, spec in component.get("dag", {}).get("tasks", {}).items():
            ref = spec["componentRef"]["name"]
            target = components[ref]
            if "dag" in target:
                walk(target)
            else:
                found.append((task, ref, target))

    walk(ours["root"])
    return found


def component_name(ours, task, component):
    """Our component's registered name: the `--component` argument of its executor (kfp names
    the task after it, `extract_data` -> `extract-data`)."""
    args = ours["deploymentSpec"]["executors"][component["executorLabel"]]["container"]["args"]
    if "--component" in args:
        return args[args.index("--component") + 1]
    return task.replace("-", "_")


def _doc_line(text):
    return " ".join(str(text).split())


def component_source(name, component):
    """Python source of a @dsl.container_component with the same inputs and outputs (and
    descriptions, through the docstring as kfp reads them) as our component."""
    params, docs_in, docs_out = [], [], []
    ins = component.get("inputDefinitions", {})
    outs = component.get("outputDefinitions", {})
    for p, d in ins.get("parameters", {}).items():
        default = ""
        if "defaultValue" in d:
            default = f" = {d['defaultValue']!r}"
        params.append((bool(default), f"{p}: {py_type(d, f'{name}.inputs.{p}')}{default}"))
        if d.get("description"):
            docs_in.append(f"        {p}: {_doc_line(d['description'])}")
    for a, d in ins.get("artifacts", {}).items():
        params.append((False, f"{a}: Input[{artifact_class(d, f'{name}.inputs.{a}')}]"))
        if d.get("description"):
            docs_in.append(f"        {a}: {_doc_line(d['description'])}")
    for p, d in outs.get("parameters", {}).items():
        params.append((False, f"{p}: dsl.OutputPath({py_type(d, f'{name}.outputs.{p}')})"))
        if d.get("description"):
            docs_out.append(f"        {p}: {_doc_line(d['description'])}")
    for a, d in outs.get("artifacts", {}).items():
        params.append((False, f"{a}: Output[{artifact_class(d, f'{name}.outputs.{a}')}]"))
        if d.get("description"):
            docs_out.append(f"        {a}: {_doc_line(d['description'])}")
    # Python wants the parameters with defaults last.
    signature = ", ".join(text for _, text in sorted(params, key=lambda p: p[0]))
    doc = [f"{name}."]
    if docs_in:
        doc += ["", "    Args:"] + docs_in
    if docs_out:
        doc += ["", "    Returns:"] + docs_out
    return (
        f"def {name}({signature}):\n"
        f'    """{chr(10).join(doc)}\n    """\n'
        "    return dsl.ContainerSpec(image=IMAGE, command=COMMAND,\n"
        "        args=['--executor-input', dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,\n"
        f"              '--component', {name!r}])\n"
    )


def kfp_components(ours):
    """name -> container component, generated from our IR so the two cannot drift."""
    components = {}
    for task, _ref, component in executor_tasks(ours):
        name = component_name(ours, task, component)
        if name in components:
            continue
        container = ours["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        namespace = {
            "dsl": dsl,
            "Input": dsl.Input,
            "Output": dsl.Output,
            # The image is deployment configuration, not structure: use ours.
            "IMAGE": container["image"],
            # Our single component binary; kfp's lightweight components would use
            # `sh -c ... python -m kfp.dsl.executor_main`, container components take any command.
            "COMMAND": list(container["command"]),
        }
        namespace.update({cls.__name__: cls for cls in ARTIFACT_CLASSES.values()})
        exec(compile(component_source(name, component), f"<{name}>", "exec"), namespace)  # noqa: S102
        components[name] = dsl.container_component(namespace[name])
    return components


def null_paths(value, path):
    """Where `value` holds a null."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [q for k, v in value.items() for q in null_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [q for i, v in enumerate(value) for q in null_paths(v, f"{path}[{i}]")]
    return []


def strip_nulls(value):
    """kfp's SDK cannot write null inside a default (to_protobuf_value raises on None), although
    google.protobuf.Value can hold one."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value if v is not None]
    return value


def training_pipeline(ours, c):
    """vertex_pipelines/src/training.rs, as a Python KFP user would write it; `c` are the
    components by name."""

    def training(
        data_path: str,
        model_config: dict,
        n_estimators: int,
        max_depth: int,
        learning_rate: float,
        seed: int,
        registry: str,
        model_name: str,
        serving_image: str,
    ):
        extract = c["extract_data"](source=data_path)
        extract.set_caching_options(False)
        validate = c["validate_data"](dataset=extract.outputs["dataset"], model_config=model_config)
        validate.set_caching_options(True)
        train = c["train"](
            dataset=extract.outputs["dataset"],
            model_config=model_config,
            n_estimators=n_estimators,
            max_depth=max_depth,
            learning_rate=learning_rate,
            seed=seed,
        )
        train.set_caching_options(True)
        train.after(validate)
        train.set_cpu_limit("2").set_memory_limit("4G")
        evaluate = c["evaluate"](model=train.outputs["model"], test_data=train.outputs["test_data"])
        evaluate.set_caching_options(True)
        compare = c["compare_champion"](
            model=train.outputs["model"],
            test_data=train.outputs["test_data"],
            registry=registry,
            model_name=model_name,
        )
        compare.set_caching_options(False)
        with dsl.If(compare.outputs["is_better"] == True):  # noqa: E712 (kfp's CEL operator)
            register = c["register_model"](
                model=train.outputs["model"],
                registry=registry,
                model_name=model_name,
                compared_champion=compare.outputs["champion_version"],
                serving_image=serving_image,
            )
            register.set_caching_options(False)

    # Defaults and descriptions of the pipeline parameters are values, not shape: take ours
    # (a missing parameter fails here, naming it).
    root = ours["root"].get("inputDefinitions", {}).get("parameters", {})
    names = training.__code__.co_varnames[: training.__code__.co_argcount]
    missing = [n for n in names if n not in root]
    if missing:
        raise Failure(f"our IR has no pipeline parameter(s) {missing} (the golden expects them)")
    training.__defaults__ = tuple(strip_nulls(root[n]["defaultValue"]) for n in names)
    args = [
        f"        {n}: {_doc_line(root[n]['description'])}"
        for n in names
        if root[n].get("description")
    ]
    training.__doc__ = "training.\n\n    Args:\n" + "\n".join(args) + "\n"
    return dsl.pipeline(name="training", description=ours["pipelineInfo"].get("description"))(
        training
    )


GOLDENS = {"training": training_pipeline}


def build_kfp_pipeline(ours, components=None):
    name = ours.get("pipelineInfo", {}).get("name")
    if name not in GOLDENS:
        raise Failure(f"no kfp golden for pipeline `{name}` (known: {sorted(GOLDENS)})")
    # Caching is set explicitly per task; make sure no environment default interferes.
    os.environ.pop("KFP_DISABLE_EXECUTION_CACHING_BY_DEFAULT", None)
    return GOLDENS[name](ours, components or kfp_components(ours))


def kfp_compile(ours, out_file):
    try:
        pipeline = build_kfp_pipeline(ours)
        compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(out_file))
    except Failure:
        raise
    except Exception as e:  # kfp's own checks (types, wiring) speak through their exceptions
        raise Failure(
            f"kfp rejected the Python equivalent of our pipeline: {type(e).__name__}: {e}"
        ) from e


# --------------------------------------------------------------------------------------------
# Comparison

# Every difference the comparison tolerates, and why. Anything else fails.
ALLOWED = [
    # Who compiled it: ours `mlops-rs-<version>`, kfp's `kfp-<version>`.
    "sdkVersion",
    # kfp's SDK raises on None inside a default value; our model_config default has
    # `"id_column": null` etc. (valid google.protobuf.Value). Our nulls are dropped before
    # comparing; the rest of the default must match.
    "null inside root parameter defaults",
    # Component and executor keys: kfp names them `comp-<component name>` / `exec-<component
    # name>` (plus `-2`... on reuse), ours `comp-<task>` / `exec-<task>`. Both documents are
    # renamed to `comp@<dag path>/<task>` before comparing, so the keys themselves (and each
    # componentRef / executorLabel) are compared through the tasks that use them.
    "component and executor key names",
    # Proto3 JSON equivalence: both documents are parsed and re-serialised through the protos
    # before comparing, so `cachingOptions: {}` (kfp, caching off) equals ours
    # `{"enableCache": false}`, and an integer default `6` equals kfp's `6.0`. These are listed
    # as notes, not failures.
    "proto3 JSON equivalence (default values omitted, 6 == 6.0)",
    # Order of dependentTasks: a set for every runner; sorted on both sides.
    "dependentTasks order",
]
# Not in the list, so compared exactly: the task graph (tasks, componentRefs, dependentTasks,
# inputs and their sources, in root and in the condition sub-DAG), component input/output
# definitions (names, parameterType, artifactType schemaTitle/schemaVersion, isOptional,
# defaultValue, description), the condition sub-DAG and its triggerPolicy.condition CEL,
# pipelinechannel-- input names, cachingOptions, pipelineInfo, schemaVersion, the root inputs,
# and executors (image and command are set from ours, args use kfp's own `{{$}}` placeholder,
# resources as kfp writes them).


# Why kfp writes what it writes, for differences seen before: printed under the difference.
HINTS = [
    (
        r"\.resources\.(cpuLimit|memoryLimit|cpuRequest|memoryRequest)$",
        "kfp writes the deprecated double fields (CPUs; memory in GB of 10^9 bytes) next to "
        "resourceCpuLimit/resourceMemoryLimit 'to work on older KFP installations' "
        "(kfp/compiler/pipeline_spec_builder.py); KFP's backend driver long read only the "
        "deprecated ones (kubeflow/pipelines#11500)",
    ),
]


def hint(path):
    return next((text for pattern, text in HINTS if re.search(pattern, path)), None)


def normalized(doc):
    """Both documents through the protos and back (proto3 JSON canonical form)."""
    spec = strict_parse({k: v for k, v in doc.items() if k != "deploymentSpec"}, PipelineSpec, "")
    out = json_format.MessageToDict(spec)
    deployment = strict_parse(doc.get("deploymentSpec", {}), DeploymentConfig, "")
    out["deploymentSpec"] = json_format.MessageToDict(deployment)
    return out


def unused(doc):
    """Components and executors that no task reaches (kfp never writes such)."""
    components = doc.get("components", {})
    reached = set()

    def walk(component):
        for task in component.get("dag", {}).get("tasks", {}).values():
            ref = task.get("componentRef", {}).get("name")
            if ref in components and ref not in reached:
                reached.add(ref)
                walk(components[ref])

    walk(doc.get("root", {}))
    labels = {components[c].get("executorLabel") for c in reached}
    executors = doc.get("deploymentSpec", {}).get("executors", {})
    return [f"components.{c}" for c in sorted(set(components) - reached)] + [
        f"deploymentSpec.executors.{e}" for e in sorted(set(executors) - labels)
    ]


def canonical(doc, strip_default_nulls):
    """Rename components/executors after the tasks that use them; apply ALLOWED."""
    doc = json.loads(json.dumps(doc))
    components = doc.get("components", {})
    executors = doc.get("deploymentSpec", {}).get("executors", {})
    new_components, new_executors = {}, {}

    def walk(component, path):
        tasks = component.get("dag", {}).get("tasks", {})
        for task_name, task in tasks.items():
            key = f"comp@{path}/{task_name}"
            target = json.loads(json.dumps(components.get(task["componentRef"]["name"], {})))
            task["componentRef"]["name"] = key
            if "dependentTasks" in task:
                task["dependentTasks"] = sorted(task["dependentTasks"])
            if "executorLabel" in target:
                label = target["executorLabel"]
                target["executorLabel"] = f"exec@{path}/{task_name}"
                new_executors[target["executorLabel"]] = executors.get(label, {})
            new_components[key] = target
            walk(target, f"{path}/{task_name}")

    walk(doc.get("root", {}), "root")
    doc["components"] = new_components
    doc.setdefault("deploymentSpec", {})["executors"] = new_executors
    doc.pop("sdkVersion", None)
    if strip_default_nulls:
        for p in doc.get("root", {}).get("inputDefinitions", {}).get("parameters", {}).values():
            if "defaultValue" in p:
                p["defaultValue"] = strip_nulls(p["defaultValue"])
    return doc


def diff(a, b, path=""):
    """[(path, ours, kfp's)] for every leaf that differs."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            here = f"{path}.{k}" if path else k
            if k not in a:
                out.append((here, "<absent>", b[k]))
            elif k not in b:
                out.append((here, a[k], "<absent>"))
            else:
                out += diff(a[k], b[k], here)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += diff(x, y, f"{path}[{i}]")
        return out
    return [] if same_leaf(a, b) else [(path, a, b)]


def same_leaf(a, b):
    """Equal values of the same JSON type (True is not 1; 6 and 6.0 are both numbers)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


ASPECTS = [
    ("task graph (root)", lambda p: p.startswith("root.dag")),
    ("pipeline parameters", lambda p: p.startswith("root.inputDefinitions")),
    ("condition sub-DAG", lambda p: re.match(r"components\.comp@[^.]*/condition-\d+\.dag", p)),
    (
        "condition inputs (pipelinechannel--)",
        lambda p: re.match(r"components\.comp@[^.]*/condition-\d+\.inputDefinitions", p),
    ),
    (
        "component input/output definitions",
        lambda p: p.startswith("components") and "Definitions" in p,
    ),
    ("components (other)", lambda p: p.startswith("components")),
    ("executors (container, resources)", lambda p: p.startswith("deploymentSpec")),
    ("pipelineInfo / schemaVersion", lambda p: True),
]


def aspect_of(path):
    for name, test in ASPECTS:
        if test(path):
            return name
    return "other"


def show(value):
    text = value if value == "<absent>" else json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def cmd_golden(ir_file, keep=None):
    ours_raw = load_json(ir_file)
    check_document(ir_file)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(keep) / "kfp_training.yaml" if keep else Path(tmp) / "kfp.yaml"
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
        kfp_compile(ours_raw, out)
        kfp_raw = load_yaml(out)
        check_document(out, kfp_raw)
    print(f"kfp {kfp_raw.get('sdkVersion')} compiled the equivalent Python pipeline")

    ours = canonical(normalized(ours_raw), strip_default_nulls=True)
    theirs = canonical(normalized(kfp_raw), strip_default_nulls=False)
    failures = diff(ours, theirs)

    # What the proto normalisation absorbed (equivalent on the wire): shown as notes.
    raw = diff(canonical(ours_raw, True), canonical(kfp_raw, False))
    failures += [(p, "present, used by no task", "<absent>") for p in unused(ours_raw)]
    failing = {p for p, _, _ in failures}
    notes = [(p, a, b) for p, a, b in raw if p not in failing]

    counts = {}
    for p, _, _ in failures:
        counts[aspect_of(p)] = counts.get(aspect_of(p), 0) + 1
    print("\ncompared (after the allowed differences):")
    for name, _ in ASPECTS:
        state = f"{counts[name]} DIFFERENCE(S)" if name in counts else "same"
        print(f"  {name:40} {state}")
    tasks = {
        path: sorted(c.get("dag", {}).get("tasks", {}))
        for path, c in [("root", theirs["root"])] + sorted(theirs["components"].items())
        if "dag" in c
    }
    for path, names in tasks.items():
        print(f"  tasks in {path}: {', '.join(names)}")
    for p in sorted(theirs["root"]["dag"]["tasks"]):
        cond = theirs["root"]["dag"]["tasks"][p].get("triggerPolicy", {}).get("condition")
        if cond:
            print(f"  {p}: triggerPolicy.condition = {cond}")

    keys = {
        "ours": sorted(ours_raw.get("components", {})),
        "kfp": sorted(kfp_raw.get("components", {})),
    }
    if keys["ours"] == keys["kfp"]:
        print(f"  component keys (not compared): identical: {', '.join(keys['ours'])}")
    else:
        print(f"  component keys (not compared): ours {keys['ours']}, kfp {keys['kfp']}")

    print("\nallowed differences (see ALLOWED in this script):")
    for a in ALLOWED:
        print(f"  - {a}")
    root_params = ours_raw.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    nulls = [
        q
        for name, d in root_params.items()
        for q in null_paths(
            d.get("defaultValue"), f"root.inputDefinitions.parameters.{name}.defaultValue"
        )
    ]
    if nulls:
        print("\nnotes: nulls in our parameter defaults, which kfp's SDK cannot write (dropped):")
        for q in nulls:
            print(f"  {q}")
    if notes:
        print("\nnotes: raw JSON differences that are equal after proto3 normalisation:")
        for p, a, b in notes:
            print(f"  {p}\n      ours: {show(a)}\n      kfp:  {show(b)}")
    if failures:
        lines = [f"our IR differs from kfp's ({len(failures)} difference(s)):"]
        for p, a, b in failures:
            lines.append(f"  [{aspect_of(p)}] {p}\n      ours: {show(a)}\n      kfp:  {show(b)}")
            if hint(p):
                lines.append(f"      why:  {hint(p)}")
        raise Failure("\n".join(lines))
    print("\nsame structure as kfp's compiler output")


def cmd_bench(ir_file, n):
    """kfp does most of its compiling when @dsl.pipeline decorates the function (GraphComponent
    builds the PipelineSpec then); Compiler().compile then applies overrides and writes YAML.
    Both are timed, and so is generating the components from our IR."""
    ours = load_json(ir_file)
    stages = {"components from our IR": [], "@dsl.pipeline (builds the spec)": []}
    stages["Compiler().compile (writes YAML)"] = []
    stages["all three"] = []
    os.environ.pop("KFP_DISABLE_EXECUTION_CACHING_BY_DEFAULT", None)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            t0 = time.perf_counter()
            components = kfp_components(ours)
            t1 = time.perf_counter()
            pipeline = build_kfp_pipeline(ours, components)
            t2 = time.perf_counter()
            compiler.Compiler().compile(pipeline_func=pipeline, package_path=f"{tmp}/p{i}.yaml")
            t3 = time.perf_counter()
            stages["components from our IR"].append(t1 - t0)
            stages["@dsl.pipeline (builds the spec)"].append(t2 - t1)
            stages["Compiler().compile (writes YAML)"].append(t3 - t2)
            stages["all three"].append(t3 - t0)
    for name, times in stages.items():
        print(
            f"{name:34} median {statistics.median(times) * 1000:8.2f} ms over {n} "
            f"(min {min(times) * 1000:.2f}, max {max(times) * 1000:.2f})"
        )


def main(argv):
    try:
        if len(argv) == 2 and argv[0] == "check":
            cmd_check(argv[1])
        elif len(argv) in (2, 4) and argv[0] == "golden":
            keep = argv[3] if len(argv) == 4 and argv[2] == "--keep" else None
            if len(argv) == 4 and keep is None:
                raise Failure(__doc__)
            cmd_golden(argv[1], keep)
        elif len(argv) == 3 and argv[0] == "kfp-compile":
            kfp_compile(load_json(argv[1]), argv[2])
        elif len(argv) in (2, 3) and argv[0] == "bench":
            cmd_bench(argv[1], int(argv[2]) if len(argv) == 3 else 10)
        else:
            raise Failure(__doc__)
    except Failure as e:
        print(f"kfp_ir.py: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
