# DO NOT EDIT — generated from spec/manifest.schema.json by tools/gen_manifest.py; run `make generate`
"""Typed Axon manifest model and the JSON Schema it comes from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = ['SCHEMA', 'Manifest', 'Author', 'DynamicBatching', 'File', 'Framework', 'GpuRequirement', 'Metadata', 'PluginRequirement', 'Resources', 'Serving', 'Tensor']

SCHEMA: Final[dict[str, Any]] = {'$schema': 'https://json-schema.org/draft/2020-12/schema',
 '$id': 'https://mlos.dev/schemas/axon/manifest/v1.json',
 'title': 'Manifest',
 'description': 'An Axon model package manifest: what the model is, which files make it up, how to '
                'call it and what it needs to run.',
 'type': 'object',
 'additionalProperties': False,
 'required': ['manifest_version',
              'namespace',
              'name',
              'version',
              'framework',
              'files',
              'inputs',
              'outputs',
              'plugin'],
 'properties': {'manifest_version': {'description': 'Version of the manifest format. Always 1 for '
                                                    'this schema.',
                                     'type': 'integer',
                                     'const': 1},
                'namespace': {'description': 'Publisher or collection the model belongs to, e.g. '
                                             '`vision`.',
                              '$ref': '#/$defs/Identifier'},
                'name': {'description': 'Model name, unique within its namespace, e.g. `resnet50`.',
                         '$ref': '#/$defs/Identifier'},
                'version': {'description': 'Semantic version of this package (MAJOR.MINOR.PATCH '
                                           'with optional -prerelease and +build).',
                            '$ref': '#/$defs/SemVer'},
                'description': {'description': 'One or two sentences on what the model does.',
                                'type': 'string',
                                'maxLength': 2000},
                'license': {'description': 'SPDX license identifier or expression of the model '
                                           'weights, e.g. `Apache-2.0`.',
                            'type': 'string',
                            'minLength': 1,
                            'maxLength': 200},
                'authors': {'description': 'People or organisations that made the model.',
                            'type': 'array',
                            'items': {'$ref': '#/$defs/Author'}},
                'tags': {'description': 'Search keywords, lower case, e.g. `image-classification`.',
                         'type': 'array',
                         'uniqueItems': True,
                         'items': {'type': 'string', 'pattern': '^[a-z0-9][a-z0-9._-]{0,63}$'}},
                'task': {'description': 'What the model is for, in Hugging Face pipeline-tag '
                                        'words, e.g. `image-classification`, `text-generation`.',
                         'type': 'string',
                         'pattern': '^[a-z0-9][a-z0-9-]{0,63}$'},
                'framework': {'$ref': '#/$defs/Framework'},
                'entrypoint': {'description': 'Path of the model file (or SavedModel directory) '
                                              'the plugin loads, relative to the package root. '
                                              'Defaults to the first file with role `model`.',
                               '$ref': '#/$defs/RelativePath'},
                'files': {'description': 'Every file of the package, with its size and sha256. '
                                         '`axon pack` fills sizes and digests in.',
                          'type': 'array',
                          'minItems': 1,
                          'items': {'$ref': '#/$defs/File'}},
                'inputs': {'description': 'Input tensors the model takes (Open Inference Protocol '
                                          'metadata).',
                           'type': 'array',
                           'minItems': 1,
                           'items': {'$ref': '#/$defs/Tensor'}},
                'outputs': {'description': 'Output tensors the model returns (Open Inference '
                                           'Protocol metadata).',
                            'type': 'array',
                            'minItems': 1,
                            'items': {'$ref': '#/$defs/Tensor'}},
                'plugin': {'$ref': '#/$defs/PluginRequirement'},
                'resources': {'$ref': '#/$defs/Resources'},
                'serving': {'$ref': '#/$defs/Serving'},
                'metadata': {'$ref': '#/$defs/Metadata'}},
 '$defs': {'Identifier': {'description': 'Lower-case name: letters, digits, `-`, `_`, `.`; starts '
                                         'with a letter or digit; at most 64 characters.',
                          'type': 'string',
                          'pattern': '^[a-z0-9][a-z0-9._-]{0,63}$'},
           'SemVer': {'description': 'Semantic version 2.0.0.',
                      'type': 'string',
                      'pattern': '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$'},
           'RelativePath': {'description': 'A forward-slash path inside the package: not absolute, '
                                           'no `..`, no empty or `.` segment.',
                            'type': 'string',
                            'minLength': 1,
                            'maxLength': 1024,
                            'pattern': '^(?!/)(?!.*(^|/)\\.{1,2}(/|$))(?!.*//)[^\\\\\\x00]+$'},
           'Sha256': {'description': 'Lower-case hex sha256 digest (64 characters).',
                      'type': 'string',
                      'pattern': '^[0-9a-f]{64}$'},
           'Author': {'description': 'A person or organisation credited for the model.',
                      'type': 'object',
                      'additionalProperties': False,
                      'required': ['name'],
                      'properties': {'name': {'type': 'string', 'minLength': 1},
                                     'email': {'type': 'string', 'pattern': '^[^@\\s]+@[^@\\s]+$'},
                                     'url': {'type': 'string', 'format': 'uri'}}},
           'Framework': {'description': 'The framework and on-disk format of the model.',
                         'type': 'object',
                         'additionalProperties': False,
                         'required': ['name', 'format'],
                         'properties': {'name': {'description': 'Framework family.',
                                                 'type': 'string',
                                                 'enum': ['onnx',
                                                          'pytorch',
                                                          'tensorflow',
                                                          'custom']},
                                        'format': {'description': 'On-disk format: `onnx`; '
                                                                  '`torchscript` or `torch_export` '
                                                                  '(never a pickle); '
                                                                  '`saved_model`, `keras` or '
                                                                  '`tflite`; `custom` for '
                                                                  'third-party plugins.',
                                                   'type': 'string',
                                                   'enum': ['onnx',
                                                            'torchscript',
                                                            'torch_export',
                                                            'saved_model',
                                                            'keras',
                                                            'tflite',
                                                            'custom']},
                                        'version': {'description': 'Framework version the model '
                                                                   'was exported with, e.g. '
                                                                   '`2.3.1`.',
                                                    'type': 'string',
                                                    'minLength': 1},
                                        'opset': {'description': 'ONNX default-domain opset the '
                                                                 'model uses.',
                                                  'type': 'integer',
                                                  'minimum': 1}}},
           'File': {'description': 'One file of the package.',
                    'type': 'object',
                    'additionalProperties': False,
                    'required': ['path', 'size', 'sha256'],
                    'properties': {'path': {'$ref': '#/$defs/RelativePath'},
                                   'size': {'description': 'Size in bytes.',
                                            'type': 'integer',
                                            'minimum': 0},
                                   'sha256': {'$ref': '#/$defs/Sha256'},
                                   'role': {'description': 'What the file is for.',
                                            'type': 'string',
                                            'enum': ['model',
                                                     'weights',
                                                     'config',
                                                     'tokenizer',
                                                     'labels',
                                                     'card',
                                                     'example',
                                                     'other']}}},
           'Tensor': {'description': 'A named input or output tensor.',
                      'type': 'object',
                      'additionalProperties': False,
                      'required': ['name', 'datatype', 'shape'],
                      'properties': {'name': {'type': 'string', 'minLength': 1},
                                     'datatype': {'description': 'Open Inference Protocol '
                                                                 'datatype.',
                                                  'type': 'string',
                                                  'enum': ['BOOL',
                                                           'UINT8',
                                                           'UINT16',
                                                           'UINT32',
                                                           'UINT64',
                                                           'INT8',
                                                           'INT16',
                                                           'INT32',
                                                           'INT64',
                                                           'FP16',
                                                           'FP32',
                                                           'FP64',
                                                           'BF16',
                                                           'BYTES']},
                                     'shape': {'description': 'Dimensions; -1 marks a dynamic '
                                                              'dimension.',
                                               'type': 'array',
                                               'items': {'type': 'integer', 'minimum': -1}},
                                     'description': {'type': 'string'},
                                     'labels': {'description': 'Path of a file (listed in `files`) '
                                                               'holding one class label per line '
                                                               'for this output.',
                                                '$ref': '#/$defs/RelativePath'}}},
           'PluginRequirement': {'description': 'The MLOS plugin that serves the model.',
                                 'type': 'object',
                                 'additionalProperties': False,
                                 'required': ['name'],
                                 'properties': {'name': {'description': 'Plugin name as registered '
                                                                        'in MLOS, e.g. `onnx`.',
                                                         '$ref': '#/$defs/Identifier'},
                                                'version': {'description': 'Accepted plugin '
                                                                           'versions: comparators '
                                                                           'joined by commas, e.g. '
                                                                           '`>=0.1.0,<1.0.0`, '
                                                                           '`^1.2.0`, `~1.2.0` or '
                                                                           '`*`.',
                                                            'type': 'string',
                                                            'minLength': 1}}},
           'Resources': {'description': 'What the model needs to run one instance.',
                         'type': 'object',
                         'additionalProperties': False,
                         'properties': {'cpu': {'description': 'CPU cores.',
                                                'type': 'number',
                                                'exclusiveMinimum': 0},
                                        'memory_bytes': {'description': 'Resident memory in bytes.',
                                                         'type': 'integer',
                                                         'minimum': 0},
                                        'gpu': {'$ref': '#/$defs/GpuRequirement'}}},
           'GpuRequirement': {'description': 'GPU needs.',
                              'type': 'object',
                              'additionalProperties': False,
                              'properties': {'count': {'type': 'integer', 'minimum': 0},
                                             'memory_bytes': {'type': 'integer', 'minimum': 0},
                                             'required': {'description': 'False when the model '
                                                                         'also runs on CPU.',
                                                          'type': 'boolean'},
                                             'compute_capability': {'type': 'string',
                                                                    'pattern': '^[0-9]+\\.[0-9]+$'}}},
           'Serving': {'description': 'Hints for the server (Triton model configuration in '
                                      'spirit).',
                       'type': 'object',
                       'additionalProperties': False,
                       'properties': {'max_batch_size': {'description': 'Largest batch along '
                                                                        'dimension 0; 0 means the '
                                                                        'model does not batch.',
                                                         'type': 'integer',
                                                         'minimum': 0},
                                      'instances': {'description': 'Model instances to serve it as '
                                                                   "(Triton's instance_group "
                                                                   "count; the registration's "
                                                                   'instance_count).',
                                                    'type': 'integer',
                                                    'minimum': 1},
                                      'timeout_ms': {'description': 'Per-request deadline in '
                                                                    'milliseconds.',
                                                     'type': 'integer',
                                                     'minimum': 1},
                                      'warmup': {'description': 'Run one request with zeros after '
                                                                'load.',
                                                 'type': 'boolean'},
                                      'dynamic_batching': {'$ref': '#/$defs/DynamicBatching'}}},
           'DynamicBatching': {'description': "Gather concurrent requests into batches (Triton's "
                                              "dynamic_batching; the registration's field of that "
                                              'name). Present, even empty, switches batching on.',
                               'type': 'object',
                               'additionalProperties': False,
                               'properties': {'preferred_batch_size': {'description': 'Batch sizes '
                                                                                      'dispatched '
                                                                                      'as soon as '
                                                                                      'one is '
                                                                                      'gathered.',
                                                                       'type': 'array',
                                                                       'items': {'type': 'integer',
                                                                                 'minimum': 1}},
                                              'max_queue_delay_us': {'description': 'Longest wait '
                                                                                    'for more '
                                                                                    'requests to '
                                                                                    'join a batch, '
                                                                                    'in '
                                                                                    'microseconds.',
                                                                     'type': 'integer',
                                                                     'minimum': 0},
                                              'priority_levels': {'description': 'Priority levels, '
                                                                                 '1 the highest; 0 '
                                                                                 'means one level.',
                                                                  'type': 'integer',
                                                                  'minimum': 0},
                                              'default_priority_level': {'description': 'Level of '
                                                                                        'a request '
                                                                                        'that '
                                                                                        'names '
                                                                                        'none; 0 '
                                                                                        'means the '
                                                                                        'lowest.',
                                                                         'type': 'integer',
                                                                         'minimum': 0},
                                              'max_queue_size': {'description': 'Requests a '
                                                                                "level's queue "
                                                                                'holds before '
                                                                                'refusing new '
                                                                                'ones; 0 means no '
                                                                                'bound.',
                                                                 'type': 'integer',
                                                                 'minimum': 0}}},
           'Metadata': {'description': 'Where the model comes from and how it was judged.',
                        'type': 'object',
                        'additionalProperties': False,
                        'properties': {'source_url': {'type': 'string', 'format': 'uri'},
                                       'homepage': {'type': 'string', 'format': 'uri'},
                                       'paper': {'type': 'string'},
                                       'card': {'description': 'Path of the model card (Markdown) '
                                                               'inside the package.',
                                                '$ref': '#/$defs/RelativePath'},
                                       'citation': {'type': 'string'},
                                       'datasets': {'type': 'array', 'items': {'type': 'string'}},
                                       'languages': {'type': 'array', 'items': {'type': 'string'}},
                                       'base_model': {'type': 'string'},
                                       'metrics': {'description': 'Evaluation results, name to '
                                                                  'value.',
                                                   'type': 'object',
                                                   'additionalProperties': {'type': 'number'}},
                                       'labels': {'description': 'Free-form key/value strings.',
                                                  'type': 'object',
                                                  'additionalProperties': {'type': 'string'}}}}}}


@dataclass(frozen=True)
class Manifest:
    """An Axon model package manifest: what the model is, which files make it up, how to call it and what it needs to run."""

    manifest_version: int
    namespace: str
    name: str
    version: str
    framework: Framework
    files: tuple[File, ...]
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    plugin: PluginRequirement
    description: str | None = None
    license: str | None = None
    authors: tuple[Author, ...] | None = None
    tags: tuple[str, ...] | None = None
    task: str | None = None
    entrypoint: str | None = None
    resources: Resources | None = None
    serving: Serving | None = None
    metadata: Metadata | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            manifest_version=data['manifest_version'],
            namespace=data['namespace'],
            name=data['name'],
            version=data['version'],
            framework=Framework.from_dict(data['framework']),
            files=tuple(File.from_dict(item) for item in data['files']),
            inputs=tuple(Tensor.from_dict(item) for item in data['inputs']),
            outputs=tuple(Tensor.from_dict(item) for item in data['outputs']),
            plugin=PluginRequirement.from_dict(data['plugin']),
            description=(data['description']) if data.get('description') is not None else None,
            license=(data['license']) if data.get('license') is not None else None,
            authors=(tuple(Author.from_dict(item) for item in data['authors'])) if data.get('authors') is not None else None,
            tags=(tuple(item for item in data['tags'])) if data.get('tags') is not None else None,
            task=(data['task']) if data.get('task') is not None else None,
            entrypoint=(data['entrypoint']) if data.get('entrypoint') is not None else None,
            resources=(Resources.from_dict(data['resources'])) if data.get('resources') is not None else None,
            serving=(Serving.from_dict(data['serving'])) if data.get('serving') is not None else None,
            metadata=(Metadata.from_dict(data['metadata'])) if data.get('metadata') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        out['manifest_version'] = self.manifest_version
        out['namespace'] = self.namespace
        out['name'] = self.name
        out['version'] = self.version
        out['framework'] = self.framework.to_dict()
        out['files'] = [item.to_dict() for item in self.files]
        out['inputs'] = [item.to_dict() for item in self.inputs]
        out['outputs'] = [item.to_dict() for item in self.outputs]
        out['plugin'] = self.plugin.to_dict()
        if self.description is not None:
            out['description'] = self.description
        if self.license is not None:
            out['license'] = self.license
        if self.authors is not None:
            out['authors'] = [item.to_dict() for item in self.authors]
        if self.tags is not None:
            out['tags'] = [item for item in self.tags]
        if self.task is not None:
            out['task'] = self.task
        if self.entrypoint is not None:
            out['entrypoint'] = self.entrypoint
        if self.resources is not None:
            out['resources'] = self.resources.to_dict()
        if self.serving is not None:
            out['serving'] = self.serving.to_dict()
        if self.metadata is not None:
            out['metadata'] = self.metadata.to_dict()
        return out


@dataclass(frozen=True)
class Author:
    """A person or organisation credited for the model."""

    name: str
    email: str | None = None
    url: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Author:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            name=data['name'],
            email=(data['email']) if data.get('email') is not None else None,
            url=(data['url']) if data.get('url') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        out['name'] = self.name
        if self.email is not None:
            out['email'] = self.email
        if self.url is not None:
            out['url'] = self.url
        return out


@dataclass(frozen=True)
class DynamicBatching:
    """Gather concurrent requests into batches (Triton's dynamic_batching; the registration's field of that name). Present, even empty, switches batching on."""

    preferred_batch_size: tuple[int, ...] | None = None
    max_queue_delay_us: int | None = None
    priority_levels: int | None = None
    default_priority_level: int | None = None
    max_queue_size: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DynamicBatching:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            preferred_batch_size=(tuple(item for item in data['preferred_batch_size'])) if data.get('preferred_batch_size') is not None else None,
            max_queue_delay_us=(data['max_queue_delay_us']) if data.get('max_queue_delay_us') is not None else None,
            priority_levels=(data['priority_levels']) if data.get('priority_levels') is not None else None,
            default_priority_level=(data['default_priority_level']) if data.get('default_priority_level') is not None else None,
            max_queue_size=(data['max_queue_size']) if data.get('max_queue_size') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        if self.preferred_batch_size is not None:
            out['preferred_batch_size'] = [item for item in self.preferred_batch_size]
        if self.max_queue_delay_us is not None:
            out['max_queue_delay_us'] = self.max_queue_delay_us
        if self.priority_levels is not None:
            out['priority_levels'] = self.priority_levels
        if self.default_priority_level is not None:
            out['default_priority_level'] = self.default_priority_level
        if self.max_queue_size is not None:
            out['max_queue_size'] = self.max_queue_size
        return out


@dataclass(frozen=True)
class File:
    """One file of the package."""

    path: str
    size: int
    sha256: str
    role: Literal['model', 'weights', 'config', 'tokenizer', 'labels', 'card', 'example', 'other'] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> File:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            path=data['path'],
            size=data['size'],
            sha256=data['sha256'],
            role=(data['role']) if data.get('role') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        out['path'] = self.path
        out['size'] = self.size
        out['sha256'] = self.sha256
        if self.role is not None:
            out['role'] = self.role
        return out


@dataclass(frozen=True)
class Framework:
    """The framework and on-disk format of the model."""

    name: Literal['onnx', 'pytorch', 'tensorflow', 'custom']
    format: Literal['onnx', 'torchscript', 'torch_export', 'saved_model', 'keras', 'tflite', 'custom']
    version: str | None = None
    opset: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Framework:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            name=data['name'],
            format=data['format'],
            version=(data['version']) if data.get('version') is not None else None,
            opset=(data['opset']) if data.get('opset') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        out['name'] = self.name
        out['format'] = self.format
        if self.version is not None:
            out['version'] = self.version
        if self.opset is not None:
            out['opset'] = self.opset
        return out


@dataclass(frozen=True)
class GpuRequirement:
    """GPU needs."""

    count: int | None = None
    memory_bytes: int | None = None
    required: bool | None = None
    compute_capability: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuRequirement:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            count=(data['count']) if data.get('count') is not None else None,
            memory_bytes=(data['memory_bytes']) if data.get('memory_bytes') is not None else None,
            required=(data['required']) if data.get('required') is not None else None,
            compute_capability=(data['compute_capability']) if data.get('compute_capability') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        if self.count is not None:
            out['count'] = self.count
        if self.memory_bytes is not None:
            out['memory_bytes'] = self.memory_bytes
        if self.required is not None:
            out['required'] = self.required
        if self.compute_capability is not None:
            out['compute_capability'] = self.compute_capability
        return out


@dataclass(frozen=True)
class Metadata:
    """Where the model comes from and how it was judged."""

    source_url: str | None = None
    homepage: str | None = None
    paper: str | None = None
    card: str | None = None
    citation: str | None = None
    datasets: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    base_model: str | None = None
    metrics: dict[str, float] | None = None
    labels: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metadata:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            source_url=(data['source_url']) if data.get('source_url') is not None else None,
            homepage=(data['homepage']) if data.get('homepage') is not None else None,
            paper=(data['paper']) if data.get('paper') is not None else None,
            card=(data['card']) if data.get('card') is not None else None,
            citation=(data['citation']) if data.get('citation') is not None else None,
            datasets=(tuple(item for item in data['datasets'])) if data.get('datasets') is not None else None,
            languages=(tuple(item for item in data['languages'])) if data.get('languages') is not None else None,
            base_model=(data['base_model']) if data.get('base_model') is not None else None,
            metrics=(dict(data['metrics'])) if data.get('metrics') is not None else None,
            labels=(dict(data['labels'])) if data.get('labels') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        if self.source_url is not None:
            out['source_url'] = self.source_url
        if self.homepage is not None:
            out['homepage'] = self.homepage
        if self.paper is not None:
            out['paper'] = self.paper
        if self.card is not None:
            out['card'] = self.card
        if self.citation is not None:
            out['citation'] = self.citation
        if self.datasets is not None:
            out['datasets'] = [item for item in self.datasets]
        if self.languages is not None:
            out['languages'] = [item for item in self.languages]
        if self.base_model is not None:
            out['base_model'] = self.base_model
        if self.metrics is not None:
            out['metrics'] = dict(self.metrics)
        if self.labels is not None:
            out['labels'] = dict(self.labels)
        return out


@dataclass(frozen=True)
class PluginRequirement:
    """The MLOS plugin that serves the model."""

    name: str
    version: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PluginRequirement:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            name=data['name'],
            version=(data['version']) if data.get('version') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        out['name'] = self.name
        if self.version is not None:
            out['version'] = self.version
        return out


@dataclass(frozen=True)
class Resources:
    """What the model needs to run one instance."""

    cpu: float | None = None
    memory_bytes: int | None = None
    gpu: GpuRequirement | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resources:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            cpu=(float(data['cpu'])) if data.get('cpu') is not None else None,
            memory_bytes=(data['memory_bytes']) if data.get('memory_bytes') is not None else None,
            gpu=(GpuRequirement.from_dict(data['gpu'])) if data.get('gpu') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        if self.cpu is not None:
            out['cpu'] = self.cpu
        if self.memory_bytes is not None:
            out['memory_bytes'] = self.memory_bytes
        if self.gpu is not None:
            out['gpu'] = self.gpu.to_dict()
        return out


@dataclass(frozen=True)
class Serving:
    """Hints for the server (Triton model configuration in spirit)."""

    max_batch_size: int | None = None
    instances: int | None = None
    timeout_ms: int | None = None
    warmup: bool | None = None
    dynamic_batching: DynamicBatching | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Serving:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            max_batch_size=(data['max_batch_size']) if data.get('max_batch_size') is not None else None,
            instances=(data['instances']) if data.get('instances') is not None else None,
            timeout_ms=(data['timeout_ms']) if data.get('timeout_ms') is not None else None,
            warmup=(data['warmup']) if data.get('warmup') is not None else None,
            dynamic_batching=(DynamicBatching.from_dict(data['dynamic_batching'])) if data.get('dynamic_batching') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        if self.max_batch_size is not None:
            out['max_batch_size'] = self.max_batch_size
        if self.instances is not None:
            out['instances'] = self.instances
        if self.timeout_ms is not None:
            out['timeout_ms'] = self.timeout_ms
        if self.warmup is not None:
            out['warmup'] = self.warmup
        if self.dynamic_batching is not None:
            out['dynamic_batching'] = self.dynamic_batching.to_dict()
        return out


@dataclass(frozen=True)
class Tensor:
    """A named input or output tensor."""

    name: str
    datatype: Literal['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BF16', 'BYTES']
    shape: tuple[int, ...]
    description: str | None = None
    labels: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tensor:
        """Build from a schema-valid mapping (validate with ``SCHEMA`` first)."""
        return cls(
            name=data['name'],
            datatype=data['datatype'],
            shape=tuple(item for item in data['shape']),
            description=(data['description']) if data.get('description') is not None else None,
            labels=(data['labels']) if data.get('labels') is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, omitting unset optional fields, in schema order."""
        out: dict[str, Any] = {}
        out['name'] = self.name
        out['datatype'] = self.datatype
        out['shape'] = [item for item in self.shape]
        if self.description is not None:
            out['description'] = self.description
        if self.labels is not None:
            out['labels'] = self.labels
        return out
